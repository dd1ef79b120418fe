package ociruntime

import (
	"fmt"
	"log/slog"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/userns"
)

// startTimeout bounds how long start waits for init to exec the command.
const startTimeout = 30 * time.Second

// Start releases a created container's init, which execs the command, and
// returns once the command runs (or why it could not); then it runs the
// poststart hooks, whose failures are only logged.
func Start(root, id string, log *slog.Logger) error {
	c, err := Open(root, id, true)
	if err != nil {
		return err
	}
	defer c.Close()
	if st := c.Status(); st != Created {
		return fmt.Errorf("cannot start a container that is %s", st)
	}
	err = userns.StartContainer(c.startSocket(), startTimeout)
	// Released either way: init has acted on the request.
	c.State.Started = true
	if serr := c.save(); serr != nil && err == nil {
		err = serr
	}
	if err == nil && c.State.Hooks != nil {
		warnHooks(log, "poststart", c.State.Hooks.Poststart, c.hookState(specs.StateRunning))
	}
	return err
}
