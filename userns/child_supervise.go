package userns

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// forwardedInInit are the signals init passes on to the command. Init is PID 1 of
// its namespace, so the kernel drops any signal it has no handler for; these get one.
var forwardedInInit = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// supervise forwards signals to the command and reaps every child until the
// command ends. It returns the command's exit status (128+N for signal N) and
// signal. What the command left behind dies with init: the kernel kills a PID
// namespace's processes when its init exits.
func supervise(pid int, sigs <-chan os.Signal) (status, signal int) {
	done := make(chan unix.WaitStatus, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			got, err := unix.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || got == pid {
				done <- ws
				return
			}
			// An orphan re-parented to us: reaped, nothing more to do.
		}
	}()
	for {
		select {
		case s := <-sigs:
			_ = unix.Kill(pid, s.(unix.Signal))
		case ws := <-done:
			if ws.Signaled() {
				return 128 + int(ws.Signal()), int(ws.Signal())
			}
			return ws.ExitStatus(), 0
		}
	}
}
