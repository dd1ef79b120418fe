package userns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// setName sets the calling thread's name (comm), which ps shows for the process
// when it is the main thread.
func setName(name string) {
	b, err := unix.BytePtrFromString(name)
	if err != nil {
		return
	}
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(b)), 0, 0, 0)
}
