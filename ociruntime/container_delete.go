package ociruntime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Delete removes a container's state. A created container (never started)
// is killed first, as runc does; a running one only with force.
func Delete(root, id string, force bool) error {
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
	return c.remove()
}
