package userns

import (
	"os"

	"golang.org/x/sys/unix"
)

// job is the parent's side of terminal job control. With a terminal, init runs
// the command as a job of its own in the terminal's foreground; the parent then
// acts for it towards the caller's shell: on ^Z it hands the terminal back and
// stops, on fg it lets the command continue, and at the end it takes the
// terminal back, so a script that ran sandbox can still read from it.
type job struct {
	toInit *os.File
	tty    bool
	pgrp   int  // our process group
	wasFg  bool // we had the terminal when we started
}

func newJob(toInit *os.File) *job {
	j := &job{toInit: toInit, tty: isControllingTTY(0), pgrp: unix.Getpgrp()}
	if j.tty {
		fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
		j.wasFg = err == nil && fg == j.pgrp
	}
	return j
}

// stopped runs when the command stopped on ^Z (or reading the terminal in the
// background).
func (j *job) stopped() {
	if j.wasFg {
		_ = setForeground(0, j.pgrp)
	}
	_ = unix.Kill(unix.Getpid(), unix.SIGSTOP)
	// Resumed by the shell: `fg` gave us the terminal, `bg` did not.
	fg := false
	if j.tty {
		cur, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
		fg = err == nil && cur == j.pgrp
	}
	_, _ = j.toInit.Write(frame(Msg{Type: MsgContinue, Foreground: fg}))
}

// restore takes the terminal back from the command's (now gone) process group.
func (j *job) restore() {
	if !j.wasFg {
		return
	}
	if cur, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && cur != j.pgrp {
		_ = setForeground(0, j.pgrp)
	}
}
