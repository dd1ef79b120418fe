package ocicmd

import (
	"errors"
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"sandbox/ociruntime"
)

// RunCmd is `run`: create, start, and (unless --detach) wait for the
// container and delete it, exiting with its status.
type RunCmd struct {
	CreateCmd // with --detach: return once the container runs
}

// Run runs the container.
func (c *RunCmd) Run(e *env, code *int) error {
	pid, err := ociruntime.Create(background(), c.opts(e))
	if err != nil {
		return err
	}
	// Signals for the container from the moment it runs (init passes the
	// forwarded ones on to the command).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Reset(unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	if err := ociruntime.Start(e.root, c.ID, e.log); err != nil {
		_ = ociruntime.Delete(e.root, c.ID, true, e.log)
		return err
	}
	if c.Detach {
		return nil
	}
	go func() {
		for s := range sigs {
			_ = unix.Kill(pid, s.(unix.Signal))
		}
	}()
	// Init is our child (create started it): its status is the command's.
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wait for the container: %w", err)
	}
	*code = ws.ExitStatus()
	if ws.Signaled() {
		*code = 128 + int(ws.Signal())
	}
	return ociruntime.Delete(e.root, c.ID, true, e.log)
}
