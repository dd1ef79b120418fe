package ocicmd

import "sandbox/ociruntime"

// StateCmd is `state ID`.
type StateCmd struct {
	ID string `arg:"" help:"Container ID."`
}

// Run prints the state as runc does.
func (c *StateCmd) Run(e *env) error {
	r, err := ociruntime.Inspect(e.root, c.ID)
	if err != nil {
		return err
	}
	return printJSON(r)
}
