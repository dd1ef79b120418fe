package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// ProfilesCmd is `sandbox profiles`: the profiles of the config file.
type ProfilesCmd struct {
	Names bool `help:"Print only the profile names, one a line (for scripts and shell completion)."`
}

// Help is the detail of `sandbox profiles --help`.
func (ProfilesCmd) Help() string {
	return `The config file is $XDG_CONFIG_HOME/sandbox/config.toml (default ~/.config/sandbox/config.toml; $SANDBOX_CONFIG names another). Its keys are the long flags of sandbox run:

  [defaults]                   # every sandbox run
  memory = "8G"

  [profile.build]              # sandbox --profile build -- make
  description = "build with network and 4G of memory"
  share-net = true
  memory = "4G"
  rw = ["~/.cache/go-build"]

Defaults apply first, then the profile, then the command line: for a flag with
one value the command line wins; repeatable flags (rw, ro, tmpfs, env, hide,
show, cap-add, cap-drop) add up.

Examples:
  sandbox profiles
  sandbox --profile build -- make`
}

// Run lists the profiles: name and a one-line summary.
func (c *ProfilesCmd) Run() error {
	path, err := configFile()
	if err != nil {
		return err
	}
	cfg, err := loadProfiles(path)
	if err != nil {
		return err
	}
	if c.Names {
		for _, p := range cfg.profiles {
			fmt.Println(p.name)
		}
		return nil
	}
	if !cfg.exists {
		fmt.Fprintf(os.Stderr, "sandbox: no profiles: %s does not exist (see sandbox profiles --help)\n", path)
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSUMMARY")
	if cfg.defaults != nil {
		fmt.Fprintf(w, "%s\t%s\n", "[defaults]", cfg.defaults.summary())
	}
	for _, p := range cfg.profiles {
		fmt.Fprintf(w, "%s\t%s\n", p.name, p.summary())
	}
	return w.Flush()
}

// summary is the description, then the flags in brackets.
func (s *profileSection) summary() string {
	var flags []string
	for _, st := range s.settings {
		flags = append(flags, st.args...)
	}
	f := strings.Join(flags, " ")
	switch {
	case s.description != "" && f != "":
		return s.description + " (" + f + ")"
	case s.description != "":
		return s.description
	case f == "":
		return "(no settings)"
	}
	return f
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
	path, err := configFile()
	if err != nil {
		return nil, err
	}
	extra, err := profileArgs(path, profileFlag(args[at:]))
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
