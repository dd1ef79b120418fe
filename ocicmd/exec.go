package ocicmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"sandbox/ociruntime"
	"sandbox/userns"
)

// ExecCmd is `exec`: conmon's `exec --pid-file P --process F --detach ID`,
// and runc's `exec [flags] ID COMMAND [ARGS...]`, whose process is the
// container's own (config.json's) with the command and the flags' changes.
type ExecCmd struct {
	ID            string   `arg:"" help:"Container ID."`
	Command       []string `arg:"" optional:"" passthrough:"" help:"The command and its arguments (instead of --process)."`
	Process       string   `short:"p" help:"A process.json (runtime-spec's process) to start."`
	Detach        bool     `short:"d" help:"Return once the process runs; the --pid-file process stands for it until it ends."`
	PidFile       string   `name:"pid-file" help:"Write the PID that stands for the process here."`
	ConsoleSocket string   `name:"console-socket" help:"Unix socket to send the terminal's master to (process.terminal)."`
	Tty           bool     `short:"t" help:"Give the command a terminal (needs --console-socket)."`
	Env           []string `short:"e" help:"Add NAME=VALUE to the command's environment."`
	Cwd           string   `help:"The command's working directory, inside the container."`
	User          string   `short:"u" help:"UID[:GID] to run the command as."`
	PreserveFds   int      `name:"preserve-fds" help:"Pass this many descriptors beyond stdio (only 0 for exec)."`
	NoNewPrivs    bool     `name:"no-new-privs" help:"Accepted: no_new_privs is always set."`
	ProcessLabel  string   `name:"process-label" hidden:""`
	Apparmor      string   `hidden:""`
}

// execSignals are the signals exec and its waiter pass on to the process
// (run passes the same on to init).
func execSignals() []os.Signal {
	return []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}
}

// Run starts the process and waits for it (unless --detach), exiting with
// its status.
func (c *ExecCmd) Run(e *env, code *int) error {
	if c.PreserveFds > 0 {
		return errors.New("exec --preserve-fds: passing descriptors to an exec is not supported")
	}
	p, err := c.process(e)
	if err != nil {
		return err
	}
	s, err := ociruntime.Exec(ociruntime.ExecOpts{
		Root: e.root, ID: c.ID, Process: p, ConsoleSocket: c.ConsoleSocket,
		Stdio: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	var ce *userns.ChildError
	if errors.As(err, &ce) && (ce.Code == 126 || ce.Code == 127) {
		// Not found or not executable, as a shell says it.
		fail(e.log, err)
		*code = ce.Code
		return nil
	}
	if err != nil {
		return err
	}
	if c.Detach {
		return detach(s, c.PidFile)
	}
	if c.PidFile != "" {
		// We stand for the process until it ends.
		if err := ociruntime.WritePidFile(c.PidFile, os.Getpid()); err != nil {
			s.Close()
			return err
		}
	}
	*code, err = waitExec(s)
	return err
}

// process is --process's, or the container's own with the command line's
// changes.
func (c *ExecCmd) process(e *env) (*specs.Process, error) {
	if c.Process != "" {
		if len(c.Command) > 0 {
			return nil, errors.New("exec: give either --process or a command, not both")
		}
		b, err := os.ReadFile(c.Process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", c.Process, err)
		}
		return &p, nil
	}
	if len(c.Command) == 0 {
		return nil, errors.New("exec: give --process or a command")
	}
	p, err := ociruntime.ProcessOf(e.root, c.ID)
	if err != nil {
		return nil, err
	}
	p.Args, p.Terminal = c.Command, c.Tty
	p.Env = append(p.Env, c.Env...)
	if c.Cwd != "" {
		p.Cwd = c.Cwd
	}
	if c.User != "" {
		u, g, _ := strings.Cut(c.User, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		gid := uint64(p.User.GID)
		if err == nil && g != "" {
			gid, err = strconv.ParseUint(g, 10, 32)
		}
		if err != nil {
			return nil, fmt.Errorf("--user %q: give a numeric UID[:GID]", c.User)
		}
		p.User = specs.User{UID: uint32(uid), GID: uint32(gid)}
	}
	return p, nil
}

// waitExec passes our signals on to the process and returns its status.
func waitExec(s *userns.ExecSession) (int, error) {
	defer s.Close()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, execSignals()...)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			_ = s.Signal(sig.(unix.Signal))
		}
	}()
	return s.Wait()
}

// detach leaves a waiter (exec-wait) that stands for the process and
// returns. conmon and containerd's shim wait, as subreapers, for the PID in
// the pid file and signal it: that must be a process of theirs, below
// them, which the exec'd process cannot be (init, inside the container,
// forks it). The waiter lives exactly as long as the process: it exits
// with its status, passes signals on, and if it is killed, init kills the
// process.
func detach(s *userns.ExecSession, pidFile string) error {
	f, err := s.File()
	s.Close()
	if err != nil {
		return fmt.Errorf("exec connection: %w", err)
	}
	defer f.Close()
	cmd := exec.Command("/proc/self/exe", "exec-wait")
	cmd.Args[0] = "sandbox-runc"
	// Its stdio are /dev/null: the caller's pipes are the process's, and
	// conmon reads them to their end.
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the exec's waiter: %w", err)
	}
	if pidFile != "" {
		if err := ociruntime.WritePidFile(pidFile, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			return err
		}
	}
	return cmd.Process.Release()
}

// ExecWaitCmd is the waiter exec --detach leaves (see detach), with the
// exec's connection to init as descriptor 3.
type ExecWaitCmd struct{}

// Run waits for the process and exits with its status.
func (c *ExecWaitCmd) Run(e *env, code *int) error {
	s, err := userns.ResumeExec(os.NewFile(3, "exec"))
	if err != nil {
		return err
	}
	*code, err = waitExec(s)
	return err
}
