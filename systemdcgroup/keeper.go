package systemdcgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// keepLeaf is the cgroup below a scope that holds the Keeper, beside the
// sandbox's own leaf: a cgroup with a process may enable no controller for its
// children, so the keeper must leave the scope's top before init enables them.
const keepLeaf = "keep"

// Keeper is an idle process of ours that holds a scope's cgroup after the
// sandbox in it has ended, so its counters can still be read. systemd stops a
// scope, and removes its cgroup, as soon as the cgroup has no process left;
// init's exit empties it before sandbox learns of that exit, and without a
// keeper the OOM kill, memory.peak and pids.peak were lost in most runs
// (issue 16). It is `cat` reading a pipe that only we write: it exits at
// Release, or when sandbox dies and the pipe closes.
type Keeper struct {
	cmd  *exec.Cmd
	hold *os.File // our end of cat's stdin
}

// StartKeeper starts the keeper and returns once it sleeps in its read: what
// its start-up touched stays charged to our own cgroup (cgroup v2 leaves
// charges where they were made), so the scope counts only the one task.
func StartKeeper() (*Keeper, error) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	k := &Keeper{cmd: exec.Command(cat), hold: w}
	k.cmd.Stdin = r // stdout and stderr: /dev/null
	// A group of its own: a ^C at the terminal is for the command, and must
	// not end the keeper before the counters are read.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = k.cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start keeper: %w", err)
	}
	// The only call that sleeps in cat's start-up is this read; a second
	// at most, then it goes as it is.
	stat := filepath.Join("/proc", strconv.Itoa(k.cmd.Process.Pid), "stat")
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if b, err := os.ReadFile(stat); err != nil || procState(b) == 'S' {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	return k, nil
}

// procState returns the state letter of a /proc/PID/stat line, which follows
// the command name in parentheses (a name may hold ") ").
func procState(stat []byte) byte {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0
	}
	return stat[i+2]
}

// Pid is the keeper's process ID.
func (k *Keeper) Pid() int { return k.cmd.Process.Pid }

// Release ends the keeper and reaps it. A nil Keeper is a no-op.
func (k *Keeper) Release() {
	if k == nil {
		return
	}
	k.hold.Close() // cat reads EOF and exits
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
}

// moveKeeper puts the keeper from the scope's top into its own leaf.
func moveKeeper(scope string, k *Keeper) error {
	leaf := filepath.Join(scope, keepLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(k.Pid())), 0); err != nil {
		return fmt.Errorf("move keeper %d into %s: %w", k.Pid(), leaf, err)
	}
	return nil
}
