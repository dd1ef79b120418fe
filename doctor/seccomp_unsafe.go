package doctor

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompActionAvail asks the kernel whether a seccomp filter may return
// action (seccomp(2) SECCOMP_GET_ACTION_AVAIL, Linux 4.14).
func seccompActionAvail(action uint32) error {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	if errno != 0 {
		return os.NewSyscallError("seccomp SECCOMP_GET_ACTION_AVAIL", errno)
	}
	return nil
}
