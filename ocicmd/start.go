package ocicmd

import "sandbox/ociruntime"

// StartCmd is `start ID`.
type StartCmd struct {
	ID string `arg:"" help:"Container ID."`
}

// Run releases the container's init.
func (c *StartCmd) Run(e *env) error { return ociruntime.Start(e.root, c.ID, e.log) }
