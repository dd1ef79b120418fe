//go:build linux && amd64

package seccomp

import "golang.org/x/sys/unix"

// nativeArch is the AUDIT_ARCH of the syscalls Default and ParseProfile name.
const nativeArch Arch = unix.AUDIT_ARCH_X86_64
