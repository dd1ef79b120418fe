package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"sandbox/profile"
)

// ProfilesCmd is `sandbox profiles`: the profiles of the config file.
type ProfilesCmd struct {
	Names bool `help:"Print only the profile names, one a line (for scripts and shell completion)."`
}

// Help is the detail of `sandbox profiles --help`.
func (ProfilesCmd) Help() string { return profile.Help }

// Run lists the profiles: name and a one-line summary.
func (c *ProfilesCmd) Run() error {
	path, err := profile.File()
	if err != nil {
		return err
	}
	cfg, err := profile.Load(path, runGrammar)
	if err != nil {
		return err
	}
	if c.Names {
		for _, n := range cfg.Names() {
			fmt.Println(n)
		}
		return nil
	}
	if !cfg.Exists() {
		fmt.Fprintf(os.Stderr, "sandbox: no profiles: %s does not exist (see sandbox profiles --help)\n", path)
		return nil
	}
	return cfg.WriteTable(os.Stdout)
}

// runGrammar is kong's model of `sandbox run` alone, on a RunCmd of its own,
// against which package profile checks the config file.
func runGrammar() (*kong.Kong, func(), error) {
	cli := &struct {
		Run RunCmd `cmd:""`
	}{}
	parser, err := kong.New(cli, kong.Name("sandbox"), kong.Exit(func(int) {}))
	return parser, func() { cli.Run = RunCmd{} }, err
}

// withProfile puts the flags of [defaults], then of the profile named by
// --profile, ahead of the user's own flags on a `sandbox run` command line
// (explicit or the default command); other command lines come back as they
// are. The user's flags come later, so they win.
func withProfile(args []string) ([]string, error) {
	at, ok := runFlagsAt(args)
	if !ok {
		return args, nil
	}
	path, err := profile.File()
	if err != nil {
		return nil, err
	}
	extra, err := profile.Args(path, profileFlag(args[at:]), runGrammar)
	if err != nil || len(extra) == 0 {
		return args, err
	}
	return slices.Concat(args[:at], extra, args[at:]), nil
}

// runFlagsAt says where run's flags start in args, if args run a command.
// Help needs no profile (and works with a broken config file).
func runFlagsAt(args []string) (int, bool) {
	if len(args) == 0 || (args[0] != "run" && slices.Contains(subcommands, args[0])) {
		return 0, false
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--help" || a == "-h" {
			return 0, false
		}
	}
	if args[0] == "run" {
		return 1, true
	}
	return 0, true
}

// profileFlag returns the value of the last --profile before "--".
func profileFlag(args []string) string {
	name := ""
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		if v, ok := strings.CutPrefix(args[i], "--profile="); ok {
			name = v
		} else if args[i] == "--profile" && i+1 < len(args) {
			name = args[i+1]
			i++
		}
	}
	return name
}
