package ociruntime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// preserved names the caller's descriptors 3 to 3+n-1 for init. They stay
// ours too until create exits; init holds its copies only until the
// command has them.
func preserved(n int) ([]*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: want 0 or more", n)
	}
	var out []*os.File
	for fd := 3; fd < 3+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("--preserve-fds %d: descriptor %d is not open", n, fd)
		}
		out = append(out, os.NewFile(uintptr(fd), fmt.Sprintf("preserved-%d", fd)))
	}
	return out, nil
}
