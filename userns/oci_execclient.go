package userns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ExecSession is the caller's side of an exec (sandbox-runc exec; the
// diagram is in oci.go): the connection on which init reports the process's
// end, and through which the caller signals it.
type ExecSession struct {
	c *msgConn
	// Pid is the process's PID inside the container.
	Pid int
	// Console is the pty's master, for a Terminal request.
	Console *os.File
}

// ExecContainer asks the init at the door at path to start req, with stdio
// (ignored for a Terminal request) as its descriptors 0-2, and returns once
// the process runs. A failure to start comes back as a *ChildError (127:
// not found, 126: not executable).
func ExecContainer(path string, req *ExecRequest, stdio []*os.File) (*ExecSession, error) {
	c, err := dialDoor(path)
	if err != nil {
		return nil, err
	}
	var fds []int
	if !req.Terminal {
		for _, f := range stdio {
			fds = append(fds, int(f.Fd()))
		}
	}
	if err := c.send(Msg{Type: MsgExec, Exec: req}, fds...); err != nil {
		c.Close()
		return nil, err
	}
	// Exactly: a --detach hands the connection on with nothing read ahead.
	m, got, err := c.recv(true)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read exec's answer from init: %w", err)
	}
	s := &ExecSession{c: c, Pid: m.ExecPid}
	switch {
	case m.Type == MsgError:
		closeFDs(got)
		c.Close()
		return nil, &ChildError{Stage: m.Stage, Msg: m.Err, Code: m.Code}
	case m.Type != MsgExecStarted || len(got) != btoi(req.Terminal):
		closeFDs(got)
		c.Close()
		return nil, fmt.Errorf("unexpected answer from init: %s with %d descriptors", m.Type, len(got))
	}
	if req.Terminal {
		s.Console = os.NewFile(uintptr(got[0]), "/dev/ptmx")
	}
	return s, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ResumeExec takes over a session handed on with File (the waiter of
// sandbox-runc exec --detach).
func ResumeExec(f *os.File) (*ExecSession, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("exec connection: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, errors.New("exec connection: not a Unix socket")
	}
	return &ExecSession{c: newMsgConn(uc)}, nil
}

// File is the connection, for another process to resume the session.
func (s *ExecSession) File() (*os.File, error) { return s.c.file() }

// Signal passes sig on to the process.
func (s *ExecSession) Signal(sig unix.Signal) error {
	return s.c.send(Msg{Type: MsgSignal, Signal: int(sig)})
}

// Wait returns the process's exit status (128+N for signal N). If init
// ends first, the process ended with it: the kernel kills a PID
// namespace's processes with SIGKILL when its init exits.
func (s *ExecSession) Wait() (int, error) {
	m, fds, err := s.c.recv(false)
	closeFDs(fds)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return 128 + int(unix.SIGKILL), nil
	}
	if err != nil {
		return 0, fmt.Errorf("wait for the exec'd process: %w", err)
	}
	if m.Type != MsgExit {
		return 0, fmt.Errorf("unexpected message from init: %s", m.Type)
	}
	return m.Status, nil
}

// Close hangs up: a process still running is killed by init.
func (s *ExecSession) Close() error { return s.c.Close() }
