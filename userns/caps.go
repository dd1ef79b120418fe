package userns

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames maps capability names (without CAP_) to numbers, per capability(7).
var capNames = map[string]int{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
	"KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
	"NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
	"IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
	"SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21,
	"SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
	"SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29,
	"AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
	"SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
	"PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

// DefaultRootCaps is what root inside keeps (--uid 0): Docker's default set,
// the capabilities a package manager or a build needs over the sandbox's own
// files and processes. Nothing like SYS_ADMIN (mounts, namespaces), NET_ADMIN or
// SYS_PTRACE; those stay out unless --cap-add asks.
var DefaultRootCaps = []string{
	"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD",
	"AUDIT_WRITE", "SETFCAP",
}

// CapSet is a set of capabilities as a bit mask.
type CapSet uint64

// ParseCap reads a name such as CAP_NET_RAW, net_raw or NET_RAW.
func ParseCap(name string) (int, error) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "CAP_")
	c, ok := capNames[n]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q (see capabilities(7), e.g. CAP_NET_RAW)", name)
	}
	return c, nil
}

// Caps computes the command's capability set as Docker does: for root
// inside, the default set, for anyone else none; --cap-drop ALL empties it;
// then the other drops, then the adds (an add wins over a drop). ALL means
// every capability but CAP_SYS_PTRACE, which is refused.
func Caps(root bool, add, drop []string) (CapSet, error) {
	var set CapSet
	if root {
		for _, n := range DefaultRootCaps {
			set |= 1 << capNames[n]
		}
	}
	bitsOf := func(n string) (CapSet, error) {
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(n), "CAP_"), "ALL") {
			return (1<<(unix.CAP_LAST_CAP+1) - 1) &^ (1 << unix.CAP_SYS_PTRACE), nil
		}
		c, err := ParseCap(n)
		if err == nil && c == unix.CAP_SYS_PTRACE {
			// Init's other threads and the fuse-overlayfs daemon hold
			// capabilities the command lacks; the kernel lets a process ptrace
			// them only with CAP_SYS_PTRACE, so the command never gets
			// it (it could undo the sandbox's mounts through them).
			// Tracing its own processes needs no capability.
			return 0, fmt.Errorf("CAP_SYS_PTRACE is never given: it would let the command ptrace the sandbox's init (gdb and strace on the command's own processes work without it)")
		}
		return 1 << c, err
	}
	for _, n := range drop {
		b, err := bitsOf(n)
		if err != nil {
			return 0, fmt.Errorf("--cap-drop: %w", err)
		}
		set &^= b
	}
	for _, n := range add {
		b, err := bitsOf(n)
		if err != nil {
			return 0, fmt.Errorf("--cap-add: %w", err)
		}
		set |= b
	}
	return set, nil
}
