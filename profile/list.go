package profile

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Help is the detail of `sandbox profiles --help`: where the file is and what
// it holds.
const Help = `The config file is $XDG_CONFIG_HOME/sandbox/config.toml (default ~/.config/sandbox/config.toml; $SANDBOX_CONFIG names another). Its keys are the long flags of sandbox run:

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

// Exists says whether the file was there (a missing one is empty).
func (c *Config) Exists() bool { return c.exists }

// HasDefaults says whether the file has a [defaults] table.
func (c *Config) HasDefaults() bool { return c.defaults != nil }

// Names are the profiles' names, in file order.
func (c *Config) Names() []string {
	var names []string
	for _, p := range c.profiles {
		names = append(names, p.name)
	}
	return names
}

// WriteTable writes the profiles as a table: name and a one-line summary,
// [defaults] first.
func (c *Config) WriteTable(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSUMMARY")
	if c.defaults != nil {
		fmt.Fprintf(w, "%s\t%s\n", "[defaults]", c.defaults.summary())
	}
	for _, p := range c.profiles {
		fmt.Fprintf(w, "%s\t%s\n", p.name, p.summary())
	}
	return w.Flush()
}

// summary is the description, then the flags in brackets.
func (s *section) summary() string {
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
