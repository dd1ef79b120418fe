package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"sandbox/seccomp"
)

// resolverFiles are the only files this process may open once confined: Go's
// resolver (which gvisor-tap-vsock's DNS forwarder uses) reads them.
var resolverFiles = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"}

// confine lowers what this process may do once the tap, its pipes and the
// virtual network are set up. It parses every packet the sandbox sends and
// runs as the user, outside every namespace; slirp4netns and pasta confine
// themselves too. So a bug reached from inside should find:
//   - no_new_privs on every thread;
//   - Landlock (Linux 5.13+): no file may be opened, written, made or run,
//     except reading the resolver's files; an older kernel skips this;
//   - the sandbox's own default seccomp filter, on every thread, and
//     truncate(2) and ftruncate(2) refused: Landlock before ABI 3 (Linux
//     6.2) has no truncate right, so truncate on a path would pass it, and
//     this process never truncates a file.
//
// Sockets to the outside still work: that is the stack's job.
func confine() error {
	// Every thread: Go has started several, and no_new_privs and a Landlock
	// domain are per thread (AllThreadsSyscall needs a build without cgo).
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return fmt.Errorf("this build uses cgo, so it cannot confine all its threads; fix: CGO_ENABLED=0 go build -o sandbox-netstack ./network/sandbox-netstack")
		}
		return fmt.Errorf("set no_new_privs: %w", e)
	}
	if err := landlock(); errors.Is(err, errNoLandlock) {
		// Said on stderr, which sandbox shows under --verbose; `sandbox
		// check` says it too.
		fmt.Fprintln(os.Stderr, "sandbox-netstack: this kernel has no Landlock: its file access is not confined")
	} else if err != nil {
		return err
	}
	policy := seccomp.Default(seccomp.Options{})
	policy.Rules = append(policy.Rules, seccomp.Rule{
		Syscalls: []uint32{unix.SYS_TRUNCATE, unix.SYS_FTRUNCATE},
		Action:   seccomp.Errno(unix.EPERM),
	})
	prog, err := seccomp.Compile(policy)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := seccomp.Install(prog); err != nil {
		return err
	}
	return seccomp.SyncThreads()
}

var errNoLandlock = errors.New("landlock not available")

func landlock() error {
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return errNoLandlock // ENOSYS, or EOPNOTSUPP when disabled at boot
	}
	// Every filesystem right the kernel's ABI knows is handled (so denied
	// unless a rule grants it).
	handled := uint64(1<<13 - 1) // ABI 1: EXECUTE ... MAKE_SYM
	if abi >= 2 {
		handled |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		handled |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		handled |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	attr := struct{ fs uint64 }{handled}
	rs, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if e != 0 {
		return fmt.Errorf("create landlock ruleset: %w", e)
	}
	defer unix.Close(int(rs))
	for _, p := range resolverFiles {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // not there: nothing to read
		}
		rule := unix.LandlockPathBeneathAttr{Allowed_access: unix.LANDLOCK_ACCESS_FS_READ_FILE, Parent_fd: int32(fd)}
		_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
		unix.Close(fd)
		if e != 0 {
			return fmt.Errorf("landlock rule for %s: %w", p, e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0); e != 0 {
		return fmt.Errorf("landlock restrict: %w", e)
	}
	return nil
}

// selfCheck, for the tests (--check-confinement FILE): confine, then try to
// read FILE, write beside it, truncate it (and a memfd of its own), run
// /bin/true and read /etc/hosts, one line each: what a bug inside this
// process could do.
func selfCheck(file string) error {
	if err := confine(); err != nil {
		return err
	}
	say := func(what string, err error) {
		res := "OK"
		if err != nil {
			res = "ERR " + err.Error()
		}
		fmt.Printf("%s %s\n", what, res)
	}
	_, err := os.ReadFile(file)
	say("read", err)
	say("write", os.WriteFile(file+".netstack-wrote", []byte("x"), 0o600))
	say("truncate", os.Truncate(file, 0))
	// A file of its own, which Landlock does not guard: only seccomp stops it.
	if fd, err := unix.MemfdCreate("netstack-check", unix.MFD_CLOEXEC); err != nil {
		say("ftruncate", err)
	} else {
		say("ftruncate", unix.Ftruncate(fd, 1))
		unix.Close(fd)
	}
	say("exec", syscall.Exec("/bin/true", []string{"true"}, nil))
	_, err = os.ReadFile("/etc/hosts")
	say("resolver", err)
	return nil
}
