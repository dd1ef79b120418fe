package ociruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"sandbox/userns"
)

// CreateOpts are create's inputs.
type CreateOpts struct {
	Root, ID, Bundle string
	PidFile          string // written once init waits, if set
	Log              *slog.Logger
	// PreserveFds: the caller's descriptors 3 to 3+PreserveFds-1 are the
	// command's 3 and up (podman's socket activation).
	PreserveFds int
	// SystemdCgroup: linux.resources go to a systemd scope (resources.go).
	SystemdCgroup bool
	// ConsoleSocket gets the terminal's master (process.terminal).
	ConsoleSocket string
}

// Create plans the container from its bundle, starts its init and returns
// once init waits for Start: the container is "created", its init's PID
// recorded and written to PidFile. init outlives the caller.
//
// Preconditions: the calling goroutine is locked to the main OS thread (as
// for userns.Run).
func Create(ctx context.Context, o CreateOpts) (pid int, err error) {
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return 0, fmt.Errorf("bundle: %w", err)
	}
	s, err := loadSpec(bundle)
	if err != nil {
		return 0, err
	}
	if err := checkConsole(s.Process.Terminal, o.ConsoleSocket); err != nil {
		return 0, err
	}
	spec, rootfs, err := plan(s, bundle)
	if err != nil {
		return 0, err
	}
	if err := joinPlan(spec, s, o.Log); err != nil {
		return 0, err
	}
	planHooks(spec, s, o.ID, bundle)
	cg, err := planCgroup(spec, s, o)
	if err != nil {
		return 0, err
	}
	if spec.ExtraFiles, err = preserved(o.PreserveFds); err != nil {
		return 0, err
	}
	spec.Config.PreservedFDs = o.PreserveFds
	c, err := newContainer(o.Root, o.ID)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = c.remove()
		}
		c.Close()
	}()
	spec.Config.StartSocket = c.startSocket()
	o.Log.Debug("create", "id", o.ID, "bundle", bundle, "mounts", len(spec.Config.Mounts), "shareNet", spec.ShareNet)
	res, err := userns.Run(ctx, spec, nil)
	if err != nil {
		return 0, err
	}
	start, _, err := procStart(res.Pid)
	if err != nil {
		return 0, fmt.Errorf("read init's start time: %w", err)
	}
	if s.Process.OOMScoreAdj != nil {
		// Best effort, as a lower score needs CAP_SYS_RESOURCE on the host.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", res.Pid), []byte(strconv.Itoa(*s.Process.OOMScoreAdj)), 0); err != nil {
			o.Log.Warn("process.oomScoreAdj", "err", err)
		}
	}
	c.State = &State{
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Pid: res.Pid, PidStart: start,
		Created: time.Now().UTC(), Annotations: s.Annotations,
		Hooks: stateHooks(s.Hooks), Cgroup: cg.own,
	}
	if o.ConsoleSocket != "" {
		// Before create returns: conmon waits for the master first.
		if err := passConsole(c.startSocket(), o.ConsoleSocket); err != nil {
			return 0, killInit(c.State, err)
		}
	}
	if err := c.save(); err != nil {
		return 0, killInit(c.State, err)
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, res.Pid); err != nil {
			return 0, killInit(c.State, err)
		}
	}
	return res.Pid, nil
}

// killInit ends an init whose create failed after it was started.
func killInit(st *State, cause error) error {
	if err := signalInit(st, 9); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// writePidFile writes the PID by rename, so a reader never sees half of it
// (conmon reads it as soon as create exits).
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}
