package ociruntime

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kill sends sig to the container's init, which passes SIGTERM, SIGINT,
// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH on to the command; SIGKILL
// ends init and with it everything in the container (its PID namespace).
func Kill(root, id string, sig unix.Signal) error {
	c, err := Open(root, id, false)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.Status() == Stopped {
		return errors.New("container not running")
	}
	return signalInit(c.State, sig)
}

// signalInit signals init through a pidfd, checked against the recorded
// start time once it is open: the pidfd pins the process, so the signal
// cannot reach another one that got init's PID after its end.
func signalInit(st *State, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return errors.New("container not running")
	}
	if err != nil {
		return fmt.Errorf("open init's pidfd: %w", err)
	}
	defer unix.Close(fd)
	if !alive(st.Pid, st.PidStart) {
		return errors.New("container not running")
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	return nil
}

// waitGone waits until the pidfd's process has ended (a zombie counts).
func waitGone(st *State, timeoutMs int) error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return nil // gone
	}
	defer unix.Close(fd)
	if !alive(st.Pid, st.PidStart) {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeoutMs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for init: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("init (PID %d) did not end within %d ms of SIGKILL", st.Pid, timeoutMs)
		}
		return nil
	}
}
