package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary run TestInstallKernel's filtered side:
// "filter" installs the default filter on one thread, as the sandbox's init
// does; "inherited" checks a process started from that thread.
const childEnv = "_SANDBOX_SECCOMP_TEST_CHILD"

func TestInstallKernel(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "filter":
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // Never unlocked: the filtered thread dies with us.
			errc <- installAndCheck()
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		return
	case "inherited":
		if err := checkFiltered(); err != nil {
			t.Fatalf("in a process started under the filter: %v", err)
		}
		// os/exec (clone with CLONE_PIDFD, then execve) works under it.
		if out, err := exec.Command("/bin/sh", "-c", "exit 0").CombinedOutput(); err != nil {
			t.Fatalf("run /bin/sh under the filter: %v: %s", err, out)
		}
		return
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, 0); errno == unix.ENOSYS {
		t.Skip("requires seccomp(2)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallKernel$", "-test.v", "-test.count=1")
	cmd.Env = envWith("filter")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("filtered child: %v\n%s", err, out)
	}
}

// envWith returns the environment with childEnv set to v.
func envWith(v string) []string {
	env := []string{childEnv + "=" + v}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, childEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// installAndCheck installs the default filter on the calling thread as the
// sandbox's init does, checks it there, and forks and execs the test binary
// from that thread, as init starts the command.
//
// Preconditions: OS thread locked.
func installAndCheck() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	prog, err := Compile(Default(Options{}))
	if err != nil {
		return err
	}
	if err := Install(prog); err != nil {
		return err
	}
	if err := checkFiltered(); err != nil {
		return err
	}
	// Go's fork and exec path, with a new session as init uses when there
	// is no terminal: clone, setsid, dup3, execve all pass.
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0], "-test.run=^TestInstallKernel$", "-test.count=1"},
		&syscall.ProcAttr{
			Env:   envWith("inherited"),
			Files: []uintptr{0, 1, 2},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		})
	if err != nil {
		return fmt.Errorf("fork and exec under the filter: %w", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("wait for the child: %w", err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("child under the filter: %v", ws)
	}
	return nil
}

// checkFiltered makes calls whose result tells a filtered thread from an
// unfiltered one: the arguments make each fail differently (EBADF, EFAULT,
// EINVAL) when the filter lets it through.
func checkFiltered() error {
	for _, c := range []struct {
		name string
		nr   uintptr
		args [3]uintptr
		want syscall.Errno
	}{
		{"getpid", unix.SYS_GETPID, [3]uintptr{}, 0},
		{"keyctl", unix.SYS_KEYCTL, [3]uintptr{unix.KEYCTL_GET_KEYRING_ID, ^uintptr(2), 0}, unix.EPERM},
		{"add_key", unix.SYS_ADD_KEY, [3]uintptr{1, 1, 1}, unix.EPERM},
		{"unshare(CLONE_NEWUSER)", unix.SYS_UNSHARE, [3]uintptr{unix.CLONE_NEWUSER}, unix.EPERM},
		{"clone3", unix.SYS_CLONE3, [3]uintptr{0, 0}, unix.ENOSYS},
		{"ioctl(TIOCSTI)", unix.SYS_IOCTL, [3]uintptr{^uintptr(0), unix.TIOCSTI, 0}, unix.EPERM},
		{"ioctl(TIOCSTI, high bits)", unix.SYS_IOCTL, [3]uintptr{^uintptr(0), 0xffffffff00005412, 0}, unix.EPERM},
		{"ioctl(TCGETS)", unix.SYS_IOCTL, [3]uintptr{^uintptr(0), unix.TCGETS, 0}, unix.EBADF},
		{"personality(query)", unix.SYS_PERSONALITY, [3]uintptr{0xffffffff}, 0},
		{"personality(PER_BSD)", unix.SYS_PERSONALITY, [3]uintptr{0x0006}, unix.EPERM},
		{"mount", unix.SYS_MOUNT, [3]uintptr{1, 1, 1}, unix.EPERM},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, [3]uintptr{1, 1}, unix.EPERM},
		{"bpf", unix.SYS_BPF, [3]uintptr{^uintptr(0), 1, 1}, unix.EPERM},
	} {
		r, _, errno := unix.RawSyscall(c.nr, c.args[0], c.args[1], c.args[2])
		if errno != c.want {
			return fmt.Errorf("%s: got errno %d (%v), want %d (%v)", c.name, errno, errno, c.want, c.want)
		}
		if c.name == "getpid" && int(r) != os.Getpid() {
			return fmt.Errorf("getpid: got %d, want %d", r, os.Getpid())
		}
	}
	if runtime.GOARCH == "amd64" {
		_, _, errno := unix.RawSyscall(x32Bit|unix.SYS_GETPID, 0, 0, 0)
		if !errors.Is(errno, unix.ENOSYS) {
			return fmt.Errorf("x32 getpid: got %v, want ENOSYS", errno)
		}
	}
	return nil
}
