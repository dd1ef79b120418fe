package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/userns"
)

// ExecOpts are exec's inputs.
type ExecOpts struct {
	Root, ID string
	// Process is what to start: exec --process's process.json, or the
	// container's own process changed by the command line (ProcessOf).
	// Untrusted, as config.json is.
	Process       *specs.Process
	ConsoleSocket string // for a process.terminal
	// Stdio are the process's descriptors 0-2 (not for a terminal).
	Stdio []*os.File
}

// Exec starts a process in a running container: its init forks it, inside
// every namespace of the container, in its cgroup, with its seccomp filter
// and no_new_privs, and capabilities within the container's
// (userns/oci_exec.go). It returns once the process runs; the session
// reports its end.
func Exec(o ExecOpts) (*userns.ExecSession, error) {
	c, err := Open(o.Root, o.ID, false)
	if err != nil {
		return nil, err
	}
	st, door := c.Status(), c.startSocket()
	// Not held while the process runs: kill and delete must not wait
	// for it.
	c.Close()
	if st != Running {
		return nil, fmt.Errorf("cannot exec in a %s container", st)
	}
	req, err := execRequest(o.Process)
	if err != nil {
		return nil, err
	}
	if err := checkConsole(req.Terminal, o.ConsoleSocket); err != nil {
		return nil, err
	}
	s, err := userns.ExecContainer(door, req, o.Stdio)
	if err != nil {
		return nil, err
	}
	if req.Terminal {
		err := sendConsole(o.ConsoleSocket, s.Console)
		s.Console.Close()
		if err != nil {
			s.Close() // init kills the process: nobody can reach its terminal
			return nil, err
		}
	}
	return s, nil
}

// ProcessOf is the container's own process, from its config.json: the
// base of an exec given on the command line (runc's, too).
func ProcessOf(root, id string) (*specs.Process, error) {
	c, err := Open(root, id, false)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if c.State == nil {
		return nil, fmt.Errorf("container %q is being created", id)
	}
	s, err := loadSpec(c.State.Bundle)
	if err != nil {
		return nil, err
	}
	return s.Process, nil
}

// execRequest checks the process as config.json's is checked.
func execRequest(p *specs.Process) (*userns.ExecRequest, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, errors.New("process.args is empty")
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("process.cwd %q: must be an absolute path", p.Cwd)
	}
	caps, err := capSet(p.Capabilities)
	if err != nil {
		return nil, err
	}
	return &userns.ExecRequest{
		Argv: p.Args, Env: p.Env, Dir: cwd, UID: p.User.UID, GID: p.User.GID,
		Groups: p.User.AdditionalGids, Caps: caps, Terminal: p.Terminal,
	}, nil
}

// WritePidFile writes pid to path by rename (exec --pid-file).
func WritePidFile(path string, pid int) error { return writePidFile(path, pid) }
