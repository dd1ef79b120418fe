package ocicmd

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/ociruntime"
)

// KillCmd is `kill [--all] ID [SIGNAL]`.
type KillCmd struct {
	ID     string `arg:"" help:"Container ID."`
	Signal string `arg:"" optional:"" default:"SIGTERM" help:"Signal: a name (TERM, SIGKILL) or a number."`
	All    bool   `short:"a" help:"Accepted: init is PID 1 of the container's namespace, so SIGKILL ends every process."`
}

// Run signals the container's init.
func (c *KillCmd) Run(e *env) error {
	sig, err := parseSignal(c.Signal)
	if err != nil {
		return err
	}
	return ociruntime.Kill(e.root, c.ID, sig)
}

func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("invalid signal %q", s)
	}
	return sig, nil
}
