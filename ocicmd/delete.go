package ocicmd

import (
	"errors"
	"io/fs"

	"sandbox/ociruntime"
)

// DeleteCmd is `delete [--force] ID`.
type DeleteCmd struct {
	ID    string `arg:"" help:"Container ID."`
	Force bool   `short:"f" help:"Kill a running container first."`
}

// Run deletes the container. With --force, a container that is already
// gone is no error (runc's).
func (c *DeleteCmd) Run(e *env) error {
	err := ociruntime.Delete(e.root, c.ID, c.Force, e.log)
	if c.Force && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
