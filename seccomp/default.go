package seccomp

import (
	"golang.org/x/sys/unix"
)

// Options adjusts Default.
type Options struct {
	// AllowNested lets the command create user namespaces (clone and
	// unshare with CLONE_NEWUSER, and clone3), for sandboxes inside the
	// sandbox such as Chromium's or Firefox's.
	AllowNested bool
	// AllowMounts lets the mount API through, for bubblewrap, `unshare -m`
	// or podman inside a nested user namespace. Only for a command without
	// CAP_SYS_ADMIN in the sandbox: see the package documentation.
	AllowMounts bool
}

// mountSyscalls are the mount API, denied unless Options.AllowMounts.
var mountSyscalls = []string{
	"mount", "umount", "umount2", "pivot_root",
	"fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "open_tree_attr", "mount_setattr",
}

// personality(2) values that only change what uname reports or ask for the
// current persona, as in Docker's profile.
const (
	perLinux      = 0x0000
	perLinux32    = 0x0008
	uname26       = 0x0020000
	personalityOf = 0xffffffff // query: personality(0xffffffff)
)

// deniedSyscalls are refused with EPERM whatever their arguments; the
// package documentation gives a reason for each. Names the native
// architecture lacks are left out.
func deniedSyscalls() []string {
	return []string{
		// Kernel keyrings.
		"keyctl", "add_key", "request_key",
		// Kernel code.
		"init_module", "finit_module", "delete_module",
		"kexec_load", "kexec_file_load",
		// Kernel attack surface and seccomp bypasses.
		"bpf", "perf_event_open", "userfaultfd",
		"io_uring_setup", "io_uring_enter", "io_uring_register",
		// File handles: the "shocker" escape.
		"open_by_handle_at", "name_to_handle_at",
		// Host-wide state.
		"acct", "swapon", "swapoff", "reboot", "syslog",
		"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
		"quotactl", "quotactl_fd", "lookup_dcookie",
		// Hardware and old x86 modes.
		"iopl", "ioperm", "vm86", "vm86old", "modify_ldt", "uselib",
		// Joining other namespaces.
		"setns",
	}
}

// Default returns the sandbox's policy: allow everything but a deny list,
// like bubblewrap under Flatpak, not an allow list like Docker's. See the
// package documentation for why and for the list.
//
// The result suits a filter installed on the thread that forks the command:
// it allows all that Go's fork and exec path (clone without CLONE_NEWUSER,
// setsid, setpgid, ioctl TIOCSPGRP/TIOCSCTTY, dup3, execve, ...) and the
// Go runtime on that thread need.
func Default(opt Options) *Policy {
	t := newSysTable()
	eperm := Errno(unix.EPERM)
	p := &Policy{DefaultAction: Allow, Arch: nativeArch}
	add := func(act Action, args []Arg, names ...string) {
		if nrs := t.numbers(names...); len(nrs) > 0 {
			p.Rules = append(p.Rules, Rule{Syscalls: nrs, Action: act, Args: args})
		}
	}
	add(eperm, nil, deniedSyscalls()...)
	if !opt.AllowMounts {
		add(eperm, nil, mountSyscalls...)
	}
	if !opt.AllowNested {
		// Flags are the first argument of clone on x86_64 and arm64
		// (not on s390, which we do not build for).
		newUser := []Arg{{Index: 0, Op: OpMaskedEqual, Value: unix.CLONE_NEWUSER, ValueTwo: unix.CLONE_NEWUSER}}
		add(eperm, newUser, "clone", "unshare")
		// clone3 passes its flags in memory, which seccomp cannot read;
		// ENOSYS makes glibc (2.34+) and others fall back to clone.
		add(Errno(unix.ENOSYS), nil, "clone3")
	}
	// personality takes an unsigned int: test the low half only.
	for _, v := range []uint64{perLinux, perLinux32, uname26, uname26 | perLinux32, personalityOf} {
		add(Allow, []Arg{{Index: 0, Op: OpMaskedEqual, Value: 0xffffffff, ValueTwo: v}}, "personality")
	}
	add(eperm, nil, "personality")
	// ioctl's request is an unsigned int too; testing all 64 bits let
	// 0x100005412 through as TIOCSTI (CVE-2019-10063, Flatpak).
	for _, req := range []uint64{unix.TIOCSTI, unix.TIOCLINUX} {
		add(eperm, []Arg{{Index: 1, Op: OpMaskedEqual, Value: 0xffffffff, ValueTwo: req}}, "ioctl")
	}
	return p
}
