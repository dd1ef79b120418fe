package ociruntime

import (
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"
)

// Delete removes a container's state. A created container (never started)
// is killed first, as runc does; a running one only with force. The
// poststop hooks run once it is stopped (failures only logged), and the
// cgroupfs directory of its limits goes.
func Delete(root, id string, force bool, log *slog.Logger) error {
	c, err := Open(root, id, true)
	if err != nil {
		return err
	}
	defer c.Close()
	switch st := c.Status(); {
	case st == Running && !force:
		return fmt.Errorf("cannot delete container %s that is not stopped: %s (use --force)", id, st)
	case st != Stopped:
		if err := signalInit(c.State, unix.SIGKILL); err != nil {
			return err
		}
		if err := waitGone(c.State, 10000); err != nil {
			return err
		}
	}
	if st := c.State; st != nil {
		if st.Hooks != nil {
			warnHooks(log, "poststop", st.Hooks.Poststop, c.hookState(specs.StateStopped))
		}
		if err := removeCgroup(st.Cgroup); err != nil {
			log.Warn(err.Error())
		}
	}
	return c.remove()
}
