package userns

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
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
//	read Created, exit 0            <--  Created
//	sandbox-runc start
//	connect, send Start             -->  accept
//	read Started (or Error), exit   <--  lock down, exec the command, Started
//
// Init then supervises as for `sandbox`: it forwards signals, reaps, and
// exits with the command's status (what conmon and containerd's shim, its
// subreapers, wait for). A socket, not runc's FIFO: `start` hears whether
// the command really started, and an exec request can later use the same
// door.

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
		err = unix.Listen(fd, 4)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind start socket %s: %w", path, err)
	}
	return fd, nil
}

// awaitStart tells the parent that init is created, and waits for a Start
// request on the start socket lfd. It returns the connection, on which init
// answers once the command runs. A terminating signal while it waits ends
// init (kill before start), with 128+N.
//
// Preconditions: everything but the command's exec is done.
func awaitStart(cfg *Config, lfd int, out *os.File, sigs <-chan os.Signal) (*os.File, int, error) {
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
	if _, err := out.Write(encode(Msg{Type: MsgCreated})); err != nil {
		return nil, 125, fmt.Errorf("report created: %w", err)
	}
	type accepted struct {
		conn *os.File
		err  error
	}
	got := make(chan accepted, 1)
	go func() {
		for {
			nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
				continue
			}
			if err != nil {
				got <- accepted{err: fmt.Errorf("accept on the start socket: %w", err)}
				return
			}
			conn := os.NewFile(uintptr(nfd), "start")
			var m Msg
			if err := json.NewDecoder(conn).Decode(&m); err != nil || m.Type != MsgStart {
				conn.Close() // not a start request: wait for the next
				continue
			}
			got <- accepted{conn: conn}
			return
		}
	}()
	for {
		select {
		case a := <-got:
			return a.conn, 125, a.err
		case sig := <-sigs:
			s, _ := sig.(unix.Signal)
			if forwardedByInit(sig) && s != unix.SIGWINCH {
				return nil, 128 + int(s), fmt.Errorf("%s before start", unix.SignalName(s))
			}
		}
	}
}

// awaitCreated reads init's messages until it says Created, or why not.
func awaitCreated(r *os.File) error {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m Msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("decode message from init: %w", err)
		}
		switch m.Type {
		case MsgCreated:
			return nil
		case MsgError:
			return &ChildError{Stage: m.Stage, Msg: m.Err, Code: m.Code}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read from init: %w", err)
	}
	return &ChildError{Stage: "init", Msg: "exited before it was created", Code: 125}
}

// StartContainer releases the init waiting on the start socket at path
// (sandbox-runc start) and waits until the command runs; an exec failure
// comes back as a *ChildError.
func StartContainer(path string, timeout time.Duration) error {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return fmt.Errorf("reach the container's init: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(encode(Msg{Type: MsgStart})); err != nil {
		return fmt.Errorf("send start: %w", err)
	}
	var m Msg
	if err := json.NewDecoder(conn).Decode(&m); err != nil {
		return fmt.Errorf("read start's answer from init: %w", err)
	}
	switch m.Type {
	case MsgStarted:
		return nil
	case MsgError:
		return &ChildError{Stage: m.Stage, Msg: m.Err, Code: m.Code}
	}
	return fmt.Errorf("unexpected answer from init: %s", m.Type)
}
