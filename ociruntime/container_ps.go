package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Ps lists the container's processes by their PIDs as the caller sees
// them: init and every process below it. runc reads the container's
// cgroup, which a rootless container may not have of its own; init's
// descendants are the processes of the container's PID namespace (init is
// its reaper, so an orphan stays below it, and an exec is a fork of init:
// nothing joins the namespace from outside).
func Ps(root, id string) ([]int, error) {
	c, err := Open(root, id, false)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if c.Status() == Stopped {
		return nil, errors.New("container not running")
	}
	pids, err := descendants(c.State.Pid)
	if err != nil {
		return nil, err
	}
	// Still init, not a process that got its PID during the walk.
	if !alive(c.State.Pid, c.State.PidStart) {
		return nil, errors.New("container not running")
	}
	return pids, nil
}

// descendants is pid and every process below it, in /proc's order of
// PIDs. /proc/PID/stat (the parent's PID) is readable for any process.
func descendants(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(n); ok {
			children[ppid] = append(children[ppid], n)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	slices.Sort(out)
	return out, nil
}

// parentOf reads a process's parent PID (field 4 of /proc/PID/stat); false
// for a process gone since the listing.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// Cmdline is a process's command line, its arguments joined by spaces ("" if
// it is gone or a kernel thread).
func Cmdline(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ")
}
