package userns

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// isControllingTTY says whether fd is the caller's controlling terminal.
func isControllingTTY(fd int) bool {
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil
}

// setForeground makes pgrp the terminal's foreground process group. The caller
// may be in a background group: SIGTTOU is blocked for the call (the kernel
// lets a process that blocks it take the terminal), on a thread of its own so
// no other goroutine runs with it blocked.
func setForeground(fd, pgrp int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set, old unix.Sigset_t
		set.Val[0] = 1 << (uint(unix.SIGTTOU) - 1)
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
			errc <- err
			return
		}
		err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp)
		_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		errc <- err
	}()
	return <-errc
}
