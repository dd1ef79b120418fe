package systemdcgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// OwnScope is a child cgroup made by hand in our own, already delegated cgroup,
// for hosts without a systemd user manager (some containers, non-systemd
// distributions): the same limits, written to the cgroup files directly.
type OwnScope struct {
	dir string
}

// EnabledForChildren returns the controllers enabled in dir's
// cgroup.subtree_control: what a child cgroup of dir, such as the one
// StartOwnScope makes, can be limited by (cgroup.controllers lists what dir
// itself has, which is not the same).
func EnabledForChildren(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return nil, fmt.Errorf("read %s/cgroup.subtree_control: %w", dir, err)
	}
	return strings.Fields(string(b)), nil
}

// StartOwnScope makes cgroup name below parent (from OwnCgroup), sets the
// limits there and moves pid into it. The controllers the limits need must
// already be enabled in parent's cgroup.subtree_control: enabling them would
// need parent to hold no process, and it holds us and our caller's shell.
func StartOwnScope(parent, name string, pid int, l Limits) (*OwnScope, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	enabled, err := EnabledForChildren(parent)
	if err != nil {
		return nil, err
	}
	if missing := MissingControllers(l.Controllers(), enabled); len(missing) > 0 {
		return nil, &MissingControllersError{Scope: parent, Missing: missing,
			Advice: fmt.Sprintf("your own cgroup %s does not enable %s for its children; fix: enable them in its cgroup.subtree_control (it must hold no process), or run under a systemd user manager",
				parent, strings.Join(missing, ","))}
	}
	s := &OwnScope{dir: filepath.Join(parent, name)}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", s.dir, err)
	}
	files := ownLimitFiles(l)
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(s.dir, f[0]), []byte(f[1]), 0); err != nil {
			_ = s.Remove()
			return nil, fmt.Errorf("set %s in %s: %w", f[0], s.dir, err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		_ = s.Remove()
		return nil, fmt.Errorf("move %d into %s: %w", pid, s.dir, err)
	}
	return s, nil
}

// ownLimitFiles are the cgroup v2 files and values for l, as systemd would
// write them (cpu.max in microseconds per 100 ms period).
func ownLimitFiles(l Limits) [][2]string {
	var f [][2]string
	if l.MemoryMax > 0 {
		f = append(f, [2]string{"memory.max", strconv.FormatUint(l.MemoryMax, 10)})
	}
	if l.SwapSet {
		f = append(f, [2]string{"memory.swap.max", strconv.FormatUint(l.MemorySwapMax, 10)})
	}
	if l.CPUQuota > 0 {
		const period = 100 * time.Millisecond
		quota := l.CPUQuota * period / time.Second
		f = append(f, [2]string{"cpu.max", fmt.Sprintf("%d %d", quota.Microseconds(), period.Microseconds())})
	}
	if l.CPUWeight > 0 {
		f = append(f, [2]string{"cpu.weight", strconv.FormatUint(l.CPUWeight, 10)})
	}
	if l.TasksMax > 0 {
		f = append(f, [2]string{"pids.max", strconv.FormatUint(l.TasksMax, 10)})
	}
	if l.IOWeight > 0 {
		f = append(f, [2]string{"io.weight", "default " + strconv.FormatUint(l.IOWeight, 10)})
	}
	return f
}

// Path is the cgroup's host directory.
func (s *OwnScope) Path() string { return s.dir }

// Remove deletes the cgroup and the leaves below it, once they hold no process.
func (s *OwnScope) Remove() error {
	subs, _ := os.ReadDir(s.dir)
	var errs []error
	for _, e := range subs {
		if e.IsDir() {
			errs = append(errs, os.Remove(filepath.Join(s.dir, e.Name())))
		}
	}
	errs = append(errs, os.Remove(s.dir))
	return errors.Join(errs...)
}
