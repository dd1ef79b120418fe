package userns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The OCI runtime's create/start handshake (sandbox-runc; package ociruntime
// keeps the state). `create` must leave the container's init set up and
// waiting, and exit; `start` releases it later, from another process. The
// parent's pipes die with `create`, so the wait is on something that lives
// in the runtime's state directory: a Unix socket init binds there.
//
//	sandbox-runc create                  init
//	Config (StartSocket), maps, Mapped   bind StartSocket, mounts, pivot_root
//	Go                                   cgroup, working directory, command
//	                                     looked up (127 now, not at start)
//	                                     PR_SET_PDEATHSIG cleared
//	read Created                    <--  Created
//	(--console-socket) send Console -->  pty in the container's devpts
//	pass the master on, exit 0      <--  Console + the master (SCM_RIGHTS)
//	sandbox-runc start
//	connect, send Start             -->  accept
//	read Started (or Error), exit   <--  lock down, exec the command, Started
//	sandbox-runc exec (any number, any time after start)
//	send Exec + stdio (SCM_RIGHTS)  -->  fork the process (oci_exec.go)
//	read ExecStarted (+ a master)   <--  ExecStarted
//	Signal ...                      -->  passed on to the process
//	exit with its status            <--  Exit, once reaped
//
// Init then supervises as for `sandbox`: it forwards signals, reaps, and
// exits with the command's status (what conmon and containerd's shim, its
// subreapers, wait for). A socket, not runc's FIFO: `start` hears whether
// the command really started, and the same door stays open for exec.

// door is init's control socket once bound. It accepts for as long as init
// lives: before start it hands Start and Console requests to awaitStart;
// once the command runs and every thread of init has the container's
// seccomp filter (open), it serves Exec requests (oci_exec.go).
type door struct {
	ln      *net.UnixListener
	cfg     *Config
	pre     chan request
	started chan struct{} // closed by open
	execs   *execTable
	tty     bool // the command's terminal is made (console)
}

// request is what came first on one connection to the door.
type request struct {
	c   *msgConn
	m   Msg
	fds []int
}

// openDoor binds the start socket at cfg.StartSocket (a host path) and
// serves it.
func openDoor(cfg *Config) (*door, error) {
	fd, err := listenStart(cfg.StartSocket)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "start")
	l, err := net.FileListener(f) // a close-on-exec dup
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("start socket: %w", err)
	}
	d := &door{ln: l.(*net.UnixListener), cfg: cfg, pre: make(chan request),
		started: make(chan struct{}), execs: newExecTable()}
	go d.serve()
	return d, nil
}

// listenStart binds and listens on the start socket at path (a host path).
// The descriptor is close-on-exec and a socket, which init's descriptor
// check lets through.
func listenStart(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("start socket: %w", err)
	}
	// Only the runtime's user may reach it: the state directory is 0700,
	// and the socket itself is made 0600.
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err == nil {
		err = unix.Listen(fd, 16)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind start socket %s: %w", path, err)
	}
	return fd, nil
}

// open lets exec requests in: the command runs, and every thread of init
// (so every thread an exec forks from) has the container's filter. A nil
// door (a `sandbox` run) has nothing to open.
func (d *door) open() {
	if d != nil {
		close(d.started)
	}
}

// execTable is the door's exec'd processes, for the supervisor to report
// their ends; nil for a nil door.
func (d *door) execTable() *execTable {
	if d == nil {
		return nil
	}
	return d.execs
}

func (d *door) serve() {
	for {
		c, err := d.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// EMFILE and the like: the peer's problem is not init's.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go d.handle(newMsgConn(c))
	}
}

// handle reads a connection's request, which is untrusted (it comes from
// the runtime's user, who owns the socket, but is checked as input).
func (d *door) handle(c *msgConn) {
	m, fds, err := c.recv(false)
	if err != nil {
		c.Close()
		return
	}
	switch m.Type {
	case MsgStart, MsgConsole:
		closeFDs(fds)
		select {
		case d.pre <- request{c: c, m: m}:
		case <-d.started:
			refuse(c, 1, "the container has started already")
		}
	case MsgExec:
		select {
		case <-d.started:
			d.exec(c, m.Exec, fds)
		default:
			closeFDs(fds)
			refuse(c, 1, "cannot exec in a container that has not started")
		}
	default:
		closeFDs(fds)
		c.Close()
	}
}

// refuse answers a request with an error and hangs up.
func refuse(c *msgConn, code int, msg string) {
	_ = c.send(Msg{Type: MsgError, Stage: "exec", Err: msg, Code: code})
	c.Close()
}

// awaitStart tells the parent that init is created, and waits for a Start
// request at the door, answering Console requests meanwhile. It returns
// the Start connection, on which init answers once the command runs. A
// terminating signal while it waits ends init (kill before start), with
// 128+N.
//
// Preconditions: everything but the command's exec is done.
func (d *door) awaitStart(out msgOut, sigs <-chan os.Signal) (*os.File, int, error) {
	cfg := d.cfg
	// Looked up before Created, as runc does: podman reads "executable file
	// not found" in the runtime's error and exits 127, 126 for "permission
	// denied".
	if _, err := lookPath(cfg.Argv[0], cfg.Env); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, 127, fmt.Errorf("exec: %q: executable file not found in $PATH", cfg.Argv[0])
		}
		return nil, 126, fmt.Errorf("exec: %q: permission denied (%w)", cfg.Argv[0], err)
	}
	// The parent leaves once it reads Created: init must not die with it
	// (Pdeathsig, set at clone, is this thread's: main's, locked).
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return nil, 125, fmt.Errorf("clear the parent-death signal: %w", err)
	}
	if err := out.send(Msg{Type: MsgCreated}); err != nil {
		return nil, 125, fmt.Errorf("report created: %w", err)
	}
	for {
		select {
		case r := <-d.pre:
			if r.m.Type == MsgConsole {
				d.console(r.c)
				continue
			}
			f, err := r.c.file()
			r.c.Close()
			if err != nil {
				return nil, 125, fmt.Errorf("start connection: %w", err)
			}
			return f, 125, nil
		case sig := <-sigs:
			s, _ := sig.(unix.Signal)
			if forwardedByInit(sig) && s != unix.SIGWINCH {
				return nil, 128 + int(s), fmt.Errorf("%s before start", unix.SignalName(s))
			}
		}
	}
}

// console makes the command's terminal (create --console-socket): a pty of
// the container's devpts whose master goes back to create, which passes it
// on to the console socket. The slave becomes init's stdio, and the
// command's controlling terminal (procAttr).
func (d *door) console(c *msgConn) {
	defer c.Close()
	if d.tty || !d.cfg.Terminal {
		_ = c.send(Msg{Type: MsgError, Stage: "console", Err: "no terminal to make (process.terminal is false, or it is made)", Code: 125})
		return
	}
	master, slave, err := newPty(d.cfg.UID, d.cfg.GID)
	if err != nil {
		_ = c.send(Msg{Type: MsgError, Stage: "console", Err: err.Error(), Code: 125})
		return
	}
	defer unix.Close(master)
	defer unix.Close(slave)
	if err := ownTerminal(slave); err != nil {
		_ = c.send(Msg{Type: MsgError, Stage: "console", Err: err.Error(), Code: 125})
		return
	}
	d.tty = true
	_ = c.send(Msg{Type: MsgConsole}, master)
}

// awaitCreated reads init's messages until it says Created, or why not.
func awaitCreated(r *os.File) error {
	defer r.Close()
	in := newFrames(r)
	for {
		m, err := in.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read from init: %w", err)
		}
		switch m.Type {
		case MsgCreated:
			return nil
		case MsgError:
			return &ChildError{Stage: m.Stage, Msg: m.Err, Code: m.Code}
		}
	}
	return &ChildError{Stage: "init", Msg: "exited before it was created", Code: 125}
}

// StartContainer releases the init waiting at the door at path (sandbox-runc
// start) and waits until the command runs; an exec failure comes back as a
// *ChildError.
func StartContainer(path string, timeout time.Duration) error {
	m, _, err := ask(path, Msg{Type: MsgStart}, timeout)
	if err != nil {
		return err
	}
	if m.Type != MsgStarted {
		return fmt.Errorf("unexpected answer from init: %s", m.Type)
	}
	return nil
}

// RequestConsole asks the created init at path for the command's terminal
// and returns the pty's master.
func RequestConsole(path string, timeout time.Duration) (*os.File, error) {
	m, fds, err := ask(path, Msg{Type: MsgConsole}, timeout)
	if err != nil {
		return nil, err
	}
	if m.Type != MsgConsole || len(fds) != 1 {
		closeFDs(fds)
		return nil, fmt.Errorf("unexpected answer from init: %s with %d descriptors", m.Type, len(fds))
	}
	return os.NewFile(uintptr(fds[0]), "/dev/ptmx"), nil
}

// ask sends one request to the door at path and reads the answer; an Error
// answer comes back as a *ChildError.
func ask(path string, req Msg, timeout time.Duration) (Msg, []int, error) {
	c, err := dialDoor(path)
	if err != nil {
		return Msg{}, nil, err
	}
	defer c.Close()
	_ = c.c.SetDeadline(time.Now().Add(timeout))
	if err := c.send(req); err != nil {
		return Msg{}, nil, err
	}
	m, fds, err := c.recv(false)
	if err != nil {
		return Msg{}, nil, fmt.Errorf("read %s's answer from init: %w", req.Type, err)
	}
	if m.Type == MsgError {
		closeFDs(fds)
		return m, nil, &ChildError{Stage: m.Stage, Msg: m.Err, Code: m.Code}
	}
	return m, fds, nil
}
