package userns

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/seccomp"
)

// Exec in a running container (sandbox-runc exec), served by init at its
// door (oci.go). Init forks the process itself: it is in every namespace of
// the container and in its cgroup, and its threads carry the container's
// seccomp filter, so a fork of init is inside everything the command is.
// The caller's process cannot get there: joining a user or mount namespace
// needs a single-threaded process, which a Go program never is.
//
// The process is init's child, not the caller's: init reaps it and reports
// its status over the connection, and the caller (sandbox-runc exec, or the
// waiter it leaves for --detach) stands for it outside. When that
// connection ends before the process, init kills the process: nobody is
// left to hear of it.

// ExecRequest is the process an Exec asks for, resolved by the runtime
// (IDs numeric) but untrusted: it comes from the runtime's user, checked
// here as input.
type ExecRequest struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// Dir is resolved inside the container's root only, as the command's.
	Dir    string   `json:"dir"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Caps is the process's capability set, within the container's.
	Caps CapSet `json:"caps"`
	// Terminal: a pty of the container's devpts is the process's
	// controlling terminal; its master goes back with ExecStarted.
	// Otherwise the caller's stdio come with the request.
	Terminal bool `json:"terminal,omitempty"`
}

// execTable holds init's exec'd processes until the supervisor reaps them.
type execTable struct {
	mu    sync.Mutex
	procs map[int]*execProc
}

// execProc is one exec'd process.
type execProc struct {
	pid    int
	done   chan unix.WaitStatus // its status, once reaped
	reaped bool                 // under the table's lock
}

func newExecTable() *execTable { return &execTable{procs: map[int]*execProc{}} }

// start runs fork under the table's lock, so the supervisor cannot reap the
// new process before it is in the table (it would take it for an orphan).
func (t *execTable) start(fork func() (int, error)) (*execProc, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return nil, err
	}
	p := &execProc{pid: pid, done: make(chan unix.WaitStatus, 1)}
	t.procs[pid] = p
	return p, nil
}

// reaped takes the status of a child the supervisor reaped, if it was an
// exec'd process.
func (t *execTable) reaped(pid int, ws unix.WaitStatus) {
	if t == nil || ws.Stopped() || ws.Continued() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.procs[pid]; p != nil {
		delete(t.procs, pid)
		p.reaped = true
		p.done <- ws
	}
}

// signal sends sig to p unless it has been reaped: until then its PID is
// its own, and the kernel gives it to no other process.
func (t *execTable) signal(p *execProc, sig unix.Signal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !p.reaped {
		_ = unix.Kill(p.pid, sig)
	}
}

// exec serves one Exec request: start the process, answer ExecStarted,
// pass the caller's signals on, and report the status once reaped.
func (d *door) exec(c *msgConn, req *ExecRequest, stdio []int) {
	defer c.Close()
	p, master, code, err := d.startExec(req, stdio)
	closeFDs(stdio)
	if err != nil {
		_ = c.send(Msg{Type: MsgError, Stage: "exec", Err: err.Error(), Code: code})
		return
	}
	var fds []int
	if master >= 0 {
		fds = append(fds, master)
	}
	err = c.send(Msg{Type: MsgExecStarted, ExecPid: p.pid}, fds...)
	if master >= 0 {
		unix.Close(master)
	}
	if err != nil {
		d.execs.signal(p, unix.SIGKILL)
	}
	go func() {
		for {
			m, fds, err := c.recv(false)
			closeFDs(fds)
			if err != nil {
				// The caller is gone (or the process reported): the
				// process goes too (a no-op once reaped).
				d.execs.signal(p, unix.SIGKILL)
				return
			}
			if m.Type == MsgSignal && m.Signal > 0 && m.Signal <= 64 {
				d.execs.signal(p, unix.Signal(m.Signal))
			}
		}
	}()
	ws := <-p.done
	status, sig := ws.ExitStatus(), 0
	if ws.Signaled() {
		status, sig = 128+int(ws.Signal()), int(ws.Signal())
	}
	_ = c.send(Msg{Type: MsgExit, Status: status, Signal: sig})
}

// startExec forks the process from a thread of its own, whose capabilities
// it lowers for the process; the thread ends with it (never unlocked), and
// init's other threads keep theirs. It returns the pty's master for a
// Terminal request (else -1), and an exit code for an error (127 not found,
// 126 not executable, 125 otherwise).
func (d *door) startExec(req *ExecRequest, stdio []int) (*execProc, int, int, error) {
	if req == nil || len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, -1, 125, errors.New("exec: no command")
	}
	if !req.Terminal && len(stdio) != 3 {
		return nil, -1, 125, fmt.Errorf("exec: %d descriptors came for stdio, want 3", len(stdio))
	}
	type result struct {
		p            *execProc
		master, code int
		err          error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		var r result
		r.p, r.master, r.code, r.err = d.forkExec(req, stdio)
		ch <- r
	}()
	r := <-ch
	return r.p, r.master, r.code, r.err
}

// forkExec lowers this thread to what the request may have, within the
// container's own (capabilities; no_new_privs and the seccomp filter are
// every thread's already), and forks the process from it.
//
// Preconditions: OS thread locked, for this request only.
func (d *door) forkExec(req *ExecRequest, stdio []int) (*execProc, int, int, error) {
	path, err := lookPath(req.Argv[0], req.Env)
	if errors.Is(err, unix.ENOENT) {
		return nil, -1, 127, fmt.Errorf("exec: %q: executable file not found in $PATH", req.Argv[0])
	}
	if err != nil {
		return nil, -1, 126, fmt.Errorf("exec: %q: permission denied (%w)", req.Argv[0], err)
	}
	dir, err := openWorkDir(req.Dir)
	if err != nil {
		return nil, -1, 125, err
	}
	defer unix.Close(dir)
	// init's own working directory, to come back to after the fork.
	here, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, 125, fmt.Errorf("open init's working directory: %w", err)
	}
	defer unix.Close(here)
	master, files := -1, stdio
	if req.Terminal {
		m, slave, err := newPty(req.UID, req.GID)
		if err != nil {
			return nil, -1, 125, err
		}
		defer unix.Close(slave)
		master, files = m, []int{slave, slave, slave}
	}
	fail := func(code int, err error) (*execProc, int, int, error) {
		if master >= 0 {
			unix.Close(master)
		}
		return nil, -1, code, err
	}
	if err := d.lowerThread(req); err != nil {
		return fail(125, fmt.Errorf("exec: lock down: %w", err))
	}
	attr := execAttr(req, files, len(req.Groups) > 0 || d.cfg.SetGroups)
	attr.Sys.AmbientCaps = ambientCaps(req.Caps&d.cfg.Caps, req.UID)
	p, err := d.execs.start(func() (int, error) {
		// The process starts in a directory init resolved inside the
		// root, never in a path the kernel would resolve again (a chdir
		// follows /proc's links: runc CVE-2024-21626). The working
		// directory is all of init's threads': the table's lock keeps
		// other execs off it, and init uses no relative path.
		if err := unix.Fchdir(dir); err != nil {
			return 0, fmt.Errorf("enter working directory %q: %w", req.Dir, err)
		}
		defer unix.Fchdir(here)
		return syscall.ForkExec(path, req.Argv, attr)
	})
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return fail(code, fmt.Errorf("exec %s: %w", path, err))
	}
	return p, master, 0, nil
}

// lowerThread applies the request's capabilities, within the container's,
// to the calling thread, and checks that it carries no_new_privs and the
// container's filter (seccomp.SyncThreads gave both to every thread of
// init before the door opened).
//
// Preconditions: OS thread locked, for this request only.
func (d *door) lowerThread(req *ExecRequest) error {
	if err := setCaps(req.Caps&d.cfg.Caps, req.UID == 0); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if len(d.cfg.Seccomp) == 0 {
		return nil
	}
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err == nil && mode == 2 {
		return nil
	}
	// Seccomp last.
	return seccomp.Install(d.cfg.Seccomp)
}

// execAttr is the process's fork: its IDs, its stdio (or the pty's slave,
// then its controlling terminal), a session of its own.
func execAttr(req *ExecRequest, files []int, setGroups bool) *syscall.ProcAttr {
	sys := &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: req.UID, Gid: req.GID, NoSetGroups: !setGroups},
		// A new session: without a terminal, none to push keystrokes
		// into (TIOCSTI); with one, the pty is its own.
		Setsid: true,
	}
	if setGroups {
		sys.Credential.Groups = req.Groups
	}
	if req.Terminal {
		sys.Setctty, sys.Ctty = true, 0
	}
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = uintptr(f)
	}
	return &syscall.ProcAttr{Env: req.Env, Files: fds, Sys: sys}
}
