package main

import (
	"log/slog"
	"os"

	"sandbox/doctor"
)

// CheckCmd is `sandbox check`.
type CheckCmd struct {
	JSON bool `name:"json" help:"Print a JSON array of {name, status, found, fix} instead."`
}

// Help is the detail of `sandbox check --help`.
func (CheckCmd) Help() string { return doctor.Help }

// Run prints the lines and sets the exit status: 0 when a plain run works.
func (c *CheckCmd) Run(code *int) error {
	var err error
	*code, err = doctor.Check(os.Stdout, c.JSON, doctorDeps())
	return err
}

// doctorDeps is what the doctor needs of the run path: the memory layer's
// test, how sizes print, and kong's model of run for the config file.
func doctorDeps() doctor.Deps {
	return doctor.Deps{
		MemLayers: func() bool { return memLayerOK(slog.New(slog.DiscardHandler)) },
		Size:      human,
		Grammar:   runGrammar,
	}
}
