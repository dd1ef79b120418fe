package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Status is a container's status as `state` reports it.
type Status string

const (
	Created Status = "created"
	Running Status = "running"
	Stopped Status = "stopped"
)

// State is what state.json keeps of a container.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// Pid is init's PID; PidStart its start time (clock ticks after boot,
	// /proc/PID/stat field 22), which tells init from a later process
	// given the same PID.
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"`
	Created     time.Time         `json:"created"`
	Started     bool              `json:"started"`
	Owner       string            `json:"owner,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Hooks: config.json's poststart and poststop hooks (hooks.go).
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Cgroup is the cgroupfs directory create made for the limits, which
	// delete removes (resources.go).
	Cgroup string `json:"cgroup,omitempty"`
}

// Container is one container's directory, locked.
type Container struct {
	dir  string
	lock *os.File
	// State is nil for a directory whose create has not finished (or
	// died before it wrote state.json).
	State *State
}

// checkID applies runc's rule for container IDs, which name a directory:
// letters, digits and _+-. only. No regexp: nothing here may cost a plain
// `sandbox` run a package init.
func checkID(id string) error {
	ok := id != "" && id != "." && id != ".."
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-.", r)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid container ID %q: letters, digits and _+-. only", id)
	}
	return nil
}

// notExist says no container has the ID (errors.Is fs.ErrNotExist).
func notExist(id string) error {
	return fmt.Errorf("container %q does not exist: %w", id, fs.ErrNotExist)
}

// DefaultRoot is where the state lives without --root: as with runc, the
// user's runtime directory unless we are the host's root. Root of a user
// namespace of our own (podman's, which passes no --root) is not.
func DefaultRoot() string {
	if os.Geteuid() != 0 || inUserNS() {
		if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
			return filepath.Join(d, "sandbox-runc")
		}
		return filepath.Join(os.TempDir(), fmt.Sprintf("sandbox-runc-%d", os.Geteuid()))
	}
	return "/run/sandbox-runc"
}

// inUserNS says whether we run in a user namespace other than the host's,
// whose uid_map maps every ID onto itself.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
}

// newContainer makes the container's directory, which must not exist, and
// holds its lock.
func newContainer(root, id string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container with ID %q already exists", id)
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	c := &Container{dir: dir}
	if err := c.takeLock(true); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Open locks the container id under root (exclusive to change it) and reads
// its state.
func Open(root, id string, exclusive bool) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	c := &Container{dir: filepath.Join(root, id)}
	if err := c.takeLock(exclusive); err != nil {
		return nil, err
	}
	// Removed while we waited for the lock: gone.
	if _, err := os.Stat(c.dir); err != nil {
		c.Close()
		return nil, notExist(id)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read state of %q: %w", id, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		c.Close()
		return nil, fmt.Errorf("read state of %q: %w", id, err)
	}
	c.State = &st
	return c, nil
}

func (c *Container) takeLock(exclusive bool) error {
	f, err := os.OpenFile(filepath.Join(c.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return notExist(filepath.Base(c.dir))
	}
	if err != nil {
		return fmt.Errorf("open lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return fmt.Errorf("lock %s: %w", c.dir, err)
	}
	c.lock = f
	return nil
}

// Close releases the lock.
func (c *Container) Close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

func (c *Container) startSocket() string { return filepath.Join(c.dir, "start.sock") }

// save writes state.json atomically.
func (c *Container) save() error {
	b, err := json.Marshal(c.State)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := filepath.Join(c.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "state.json")); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// remove deletes the container's directory (the lock goes with it).
func (c *Container) remove() error {
	err := os.RemoveAll(c.dir)
	c.Close()
	if err != nil {
		return fmt.Errorf("remove state of %q: %w", filepath.Base(c.dir), err)
	}
	return nil
}

// Status reads the container's status from its init.
func (c *Container) Status() Status {
	st := c.State
	if st == nil || !alive(st.Pid, st.PidStart) {
		return Stopped
	}
	if !st.Started {
		return Created
	}
	return Running
}

// alive says whether pid is still the process that started at start (and
// not a zombie: init has ended, its waiter not yet asked).
func alive(pid int, start uint64) bool {
	got, state, err := procStart(pid)
	return err == nil && got == start && state != 'Z' && state != 'X'
}

// procStart reads a process's start time and state from /proc/PID/stat.
func procStart(pid int) (uint64, byte, error) {
	if pid <= 0 {
		return 0, 0, fmt.Errorf("no PID")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The name (field 2) is in parentheses and may hold spaces or ')':
	// the fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return start, f[0][0], nil
}
