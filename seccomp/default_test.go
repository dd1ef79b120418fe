package seccomp

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func nativeCall(t *testing.T, name string, args ...uint64) seccompData {
	t.Helper()
	nr, ok := newSysTable().number(name)
	if !ok {
		t.Fatalf("no syscall %q on this architecture", name)
	}
	d := seccompData{nr: nr, arch: uint32(nativeArch)}
	copy(d.args[:], args)
	return d
}

func TestDefaultNames(t *testing.T) {
	if nativeArch != ArchX86_64 {
		t.Skip("the list of missing names is for x86_64")
	}
	tab := newSysTable()
	var missing []string
	for _, n := range append(deniedSyscalls(), mountSyscalls...) {
		if !knownSyscall(n) {
			t.Errorf("%q is no syscall on any architecture", n)
		}
		if _, ok := tab.number(n); !ok {
			missing = append(missing, n)
		}
	}
	// Only 32-bit x86 has these.
	if want := []string{"stime", "vm86", "vm86old", "umount"}; !slices.Equal(missing, want) {
		t.Errorf("denied names missing on x86_64: %q, want %q", missing, want)
	}
}

func TestDefault(t *testing.T) {
	eperm, enosys := Errno(unix.EPERM), Errno(unix.ENOSYS)
	for _, o := range []Options{{}, {AllowNested: true}, {AllowNested: true, AllowMounts: true}} {
		nested := o.AllowNested
		prog := mustCompile(t, Default(o))
		newUser := eperm
		if nested {
			newUser = Allow
		}
		type call struct {
			name string
			args []uint64
			want Action
		}
		calls := []call{
			{"read", nil, Allow}, {"write", nil, Allow}, {"futex", nil, Allow},
			{"epoll_wait", nil, Allow}, {"mmap", nil, Allow}, {"getppid", nil, Allow},
			{"openat", nil, Allow}, {"close", nil, Allow}, {"execve", nil, Allow},
			{"execveat", nil, Allow}, {"wait4", nil, Allow}, {"rt_sigprocmask", nil, Allow},
			{"setsid", nil, Allow}, {"setpgid", nil, Allow}, {"dup3", nil, Allow},
			{"close_range", nil, Allow}, {"exit_group", nil, Allow}, {"prctl", nil, Allow},
			{"setuid", nil, Allow}, {"setgroups", nil, Allow}, {"fcntl", nil, Allow},
			{"ptrace", nil, Allow}, {"process_vm_readv", nil, Allow}, {"seccomp", nil, Allow},
			{"clone", []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, Allow},
			{"clone", []uint64{unix.CLONE_NEWNS | unix.CLONE_NEWPID}, Allow},
			{"clone", []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, newUser},
			{"clone", []uint64{0xffffffff_ffffffff}, newUser},
			{"unshare", []uint64{unix.CLONE_NEWUSER}, newUser},
			{"unshare", []uint64{unix.CLONE_NEWNS | unix.CLONE_NEWNET}, Allow},
			{"clone3", nil, map[bool]Action{false: enosys, true: Allow}[nested]},
			{"ioctl", []uint64{0, unix.TIOCSTI}, eperm},
			{"ioctl", []uint64{0, 0xffffffff00005412}, eperm},
			{"ioctl", []uint64{0, 0x100005412}, eperm},
			{"ioctl", []uint64{0, unix.TIOCLINUX}, eperm},
			{"ioctl", []uint64{0, unix.TCGETS}, Allow},
			{"ioctl", []uint64{0, unix.TIOCSPGRP}, Allow},
			{"ioctl", []uint64{0, unix.TIOCSCTTY}, Allow},
			{"ioctl", []uint64{0, 0x5412 << 32}, Allow},
			{"personality", []uint64{0}, Allow},
			{"personality", []uint64{8}, Allow},
			{"personality", []uint64{0x20000}, Allow},
			{"personality", []uint64{0x20008}, Allow},
			{"personality", []uint64{0xffffffff}, Allow},
			{"personality", []uint64{0xffffffff_ffffffff}, Allow}, // kernel reads 0xffffffff
			{"personality", []uint64{0x0006}, eperm},              // PER_BSD
			{"personality", []uint64{0x0040000}, eperm},           // ADDR_NO_RANDOMIZE
			{"personality", []uint64{0x0400000}, eperm},           // READ_IMPLIES_EXEC
		}
		for _, n := range deniedSyscalls() {
			if _, ok := newSysTable().number(n); ok {
				calls = append(calls, call{n, nil, eperm})
			}
		}
		for _, n := range mountSyscalls {
			if _, ok := newSysTable().number(n); ok {
				calls = append(calls, call{n, nil, map[bool]Action{false: eperm, true: Allow}[o.AllowMounts]})
			}
		}
		for _, c := range calls {
			d := nativeCall(t, c.name, c.args...)
			if got, _ := mustRun(t, prog, d); got != c.want {
				t.Errorf("%+v %s(%#x): got %v, want %v\n%s", o, c.name, c.args, got, c.want, Disassemble(prog))
			}
		}
	}
}

func TestDefaultArchAndX32(t *testing.T) {
	prog := mustCompile(t, Default(Options{}))
	getpid := nativeCall(t, "getpid")
	for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, 0, uint32(ArchX86_64 ^ ArchAARCH64 ^ nativeArch)} {
		d := getpid
		d.arch = arch
		if got, _ := mustRun(t, prog, d); got != KillProcess {
			t.Errorf("getpid on arch %#x: got %v, want KILL_PROCESS", arch, got)
		}
	}
	if nativeArch != ArchX86_64 {
		return
	}
	for _, nr := range []uint32{x32Bit, x32Bit | unix.SYS_GETPID, x32Bit | unix.SYS_KEYCTL, 0xffffffff} {
		d := getpid
		d.nr = nr
		if got, _ := mustRun(t, prog, d); got != Errno(unix.ENOSYS) {
			t.Errorf("x32 nr %#x: got %v, want ERRNO(ENOSYS)", nr, got)
		}
	}
}

// TestHotPath keeps allowed syscalls cheap: the kernel caches those whose
// result needs no argument, but without the cache (or before it is built)
// each call runs the filter.
func TestHotPath(t *testing.T) {
	prog := mustCompile(t, Default(Options{}))
	for _, name := range []string{"read", "write", "futex", "getppid", "mmap", "epoll_wait", "openat", "close"} {
		_, steps := mustRun(t, prog, nativeCall(t, name))
		if steps > 12 {
			t.Errorf("%s runs %d instructions, want at most 12\n%s", name, steps, Disassemble(prog))
		}
		if name == "read" {
			t.Logf("read: %d instructions of %d", steps, len(prog))
		}
	}
	// Only the syscalls with argument rules load arguments; the kernel
	// caches the others (seccomp_cache_prepare emulates the filter on nr
	// and arch alone).
	tab := newSysTable()
	var loading []string
	for nr := range uint32(600) {
		if touchesArgs(t, prog, seccompData{nr: nr, arch: uint32(nativeArch)}) {
			loading = append(loading, tab.name(nr))
		}
	}
	slices.Sort(loading)
	if want := []string{"clone", "ioctl", "personality", "unshare"}; !slices.Equal(loading, want) {
		t.Errorf("syscalls that load arguments: %q, want %q", loading, want)
	}
}

// touchesArgs reports whether running prog on d loads an argument.
func touchesArgs(t *testing.T, prog []unix.SockFilter, d seccompData) bool {
	t.Helper()
	loads := false
	if _, _, err := execute(prog, d, func(off uint32) { loads = loads || off >= offArgs }); err != nil {
		t.Fatalf("run %+v: %v\n%s", d, err, Disassemble(prog))
	}
	return loads
}

// TestDefaultSpecRoundTrip prints the default as a profile and reads it
// back: the same program must come out.
func TestDefaultSpecRoundTrip(t *testing.T) {
	for _, nested := range []bool{false, true} {
		p := Default(Options{AllowNested: nested})
		data, err := json.MarshalIndent(p.Spec(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProfile(data)
		if err != nil {
			t.Fatalf("ParseProfile(Default().Spec()): %v\n%s", err, data)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("round trip changed the policy:\n got %+v\nwant %+v", back, p)
		}
		if !slices.Equal(mustCompile(t, back), mustCompile(t, p)) {
			t.Error("round trip changed the program")
		}
	}
}
