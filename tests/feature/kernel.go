package feature

import (
	"fmt"
	"syscall"
)

// KernelAtLeast says whether the running kernel is major.minor or later.
func KernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	var a, m int
	if _, err := fmt.Sscanf(string(b), "%d.%d", &a, &m); err != nil {
		return false
	}
	return a > major || (a == major && m >= minor)
}

// MemoryLayer says whether a plain run keeps its layers in memory here:
// tmpfs has user xattrs from Linux 6.6.
func MemoryLayer() bool { return KernelAtLeast(6, 6) }
