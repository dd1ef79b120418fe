package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// tiocsti pushes c into the input of the terminal on fd.
func tiocsti(fd int, c byte) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	return e
}
