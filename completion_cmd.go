package main

import (
	"os"

	"github.com/alecthomas/kong"

	"sandbox/completion"
)

// CompletionCmd is `sandbox completion SHELL`.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Help is the detail of `sandbox completion --help`.
func (CompletionCmd) Help() string { return completion.Help }

// Run prints the script, made from kong's model of this CLI.
func (c *CompletionCmd) Run(ctx *kong.Context) error {
	script, err := completion.Script(c.Shell, ctx.Model)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(script)
	return err
}
