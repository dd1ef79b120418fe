package ocicmd

import (
	"encoding/json"
	"fmt"
	"os"

	"sandbox/ociruntime"
	"sandbox/quote"
)

// PsCmd is `ps [--format json] ID`: the container's processes, by their
// PIDs as the caller sees them (podman top reads the JSON).
type PsCmd struct {
	ID     string `arg:"" help:"Container ID."`
	Format string `short:"f" enum:"table,json" default:"table" help:"table (PID and command) or json (an array of PIDs)."`
}

// Run lists the processes.
func (c *PsCmd) Run(e *env) error {
	pids, err := ociruntime.Ps(e.root, c.ID)
	if err != nil {
		return err
	}
	if c.Format == "json" {
		// Compact, as runc prints it.
		return json.NewEncoder(os.Stdout).Encode(pids)
	}
	fmt.Printf("%7s %s\n", "PID", "CMD")
	for _, p := range pids {
		fmt.Printf("%7d %s\n", p, quote.Short(ociruntime.Cmdline(p), 200))
	}
	return nil
}
