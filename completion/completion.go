// Package completion writes the shell completion scripts of `sandbox
// completion bash|zsh|fish`, generated from kong's model of the CLI, so a new
// flag or command completes without touching them. Profile names come from
// `sandbox profiles --names`, sandbox names from the directories of the store
// of layers, both read by the script when the user presses TAB.
//
// Runs in the parent, for `sandbox completion` only; the scripts run in the
// user's shell.
package completion

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// Help is the detail of `sandbox completion --help`.
const Help = `The script completes subcommands, flags and their values, profile names
(--profile) and sandbox names (diff, commit, rm, --name); after -- it completes
your command as the shell would.

Examples:
  source <(sandbox completion bash)         # this bash; for good, add the line to ~/.bashrc
  sandbox completion zsh > ~/.zfunc/_sandbox   # with fpath+=(~/.zfunc) before compinit in ~/.zshrc
  sandbox completion fish > ~/.config/fish/completions/sandbox.fish`

// Script is the completion script for shell, from app, kong's model of the
// whole CLI.
func Script(shell string, app *kong.Application) (string, error) {
	spec := completionSpec(app)
	switch shell {
	case "bash":
		return bashCompletion(spec), nil
	case "zsh":
		return zshCompletion(spec), nil
	case "fish":
		return fishCompletion(spec), nil
	}
	return "", fmt.Errorf("completion %q: want bash, zsh or fish", shell)
}

// compCmd is what completes in one command: "" is the top level (where the
// default command's flags apply), "seccomp default" a nested one.
type compCmd struct {
	path  string
	help  string
	subs  []compItem
	flags []compFlag
	args  []string // value kind of each positional; the last repeats if variadic
	more  bool     // the last positional takes many words
}

type compItem struct{ name, help string }

// compFlag is a flag; value is "" for a switch, else the kind of its value:
// "none", "file", "profile", "sandbox", "command" or "enum:a b c".
type compFlag struct {
	long, short, help, value string
}

// completionSpec walks kong's model. The result lists the top level first,
// then every command depth-first.
func completionSpec(app *kong.Application) []compCmd {
	top := compCmd{path: ""}
	appFlags := compFlags(app.Node) // --help, everywhere
	var out []compCmd
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		c := compCmd{path: path, help: firstSentence(n.Help)}
		c.flags = append(compFlags(n), appFlags...)
		for _, ch := range n.Children {
			if !ch.Hidden {
				c.subs = append(c.subs, compItem{ch.Name, firstSentence(ch.Help)})
			}
		}
		for _, p := range n.Positional {
			c.args = append(c.args, argKind(p))
			c.more = p.IsCumulative()
		}
		out = append(out, c)
		for _, ch := range n.Children {
			if !ch.Hidden {
				walk(ch, strings.TrimSpace(path+" "+ch.Name))
			}
		}
	}
	for _, ch := range app.Children {
		if !ch.Hidden {
			top.subs = append(top.subs, compItem{ch.Name, firstSentence(ch.Help)})
		}
	}
	top.flags = appFlags
	if app.DefaultCmd != nil {
		// The default command's flags may come first: sandbox --uid 0 -- id.
		top.flags = append(top.flags, compFlags(app.DefaultCmd)...)
	}
	for _, ch := range app.Children {
		if !ch.Hidden {
			walk(ch, ch.Name)
		}
	}
	return append([]compCmd{top}, out...)
}

func compFlags(n *kong.Node) []compFlag {
	var out []compFlag
	for _, f := range n.Flags {
		if f.Hidden {
			continue
		}
		cf := compFlag{long: "--" + f.Name, help: firstSentence(f.Help)}
		if f.Short != 0 {
			cf.short = "-" + string(f.Short)
		}
		if !f.IsBool() && !f.IsCounter() {
			cf.value = flagKind(f)
		}
		out = append(out, cf)
		for _, a := range f.Aliases { // --network for --net, podman's names
			out = append(out, compFlag{long: "--" + a, help: cf.help, value: cf.value})
		}
	}
	return out
}

// flagValues are the values of flags that check them in code, not with an
// enum tag.
var flagValues = map[string]string{
	"net": "none host user pasta slirp4netns gvisor",
}

// flagKind is how a flag's value completes.
func flagKind(f *kong.Flag) string {
	ph := f.FormatPlaceHolder()
	switch {
	case flagValues[f.Name] != "":
		return "enum:" + flagValues[f.Name]
	case f.Enum != "":
		return "enum:" + strings.Join(f.EnumSlice(), " ")
	case f.Name == "profile":
		return "profile"
	case f.Name == "name":
		return "sandbox"
	case f.Tag.Type == "path" || f.Tag.Type == "existingfile" || f.Tag.Type == "existingdir",
		strings.Contains(ph, "PATH"), strings.Contains(ph, "DIR"), strings.Contains(ph, "FILE"), strings.Contains(ph, "DEST"):
		return "file"
	}
	return "none"
}

// argKind is how a positional argument completes.
func argKind(p *kong.Positional) string {
	switch {
	case p.Passthrough || p.PassthroughMode != 0:
		return "command"
	case p.Enum != "":
		return "enum:" + strings.Join(p.EnumSlice(), " ")
	case p.Name == "name" || p.Name == "names":
		return "sandbox"
	}
	return "file"
}

// firstSentence is the help up to its first full stop, for descriptions.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// flagNames lists the long and short names of flags.
func flagNames(flags []compFlag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.long)
		if f.short != "" {
			out = append(out, f.short)
		}
	}
	return out
}

// valueFlags groups the flags that take a value by their kind, sorted, for
// case statements: kind -> names.
func valueFlags(flags []compFlag) ([]string, map[string][]string) {
	byKind := map[string][]string{}
	for _, f := range flags {
		if f.value == "" {
			continue
		}
		byKind[f.value] = append(byKind[f.value], f.long)
		if f.short != "" {
			byKind[f.value] = append(byKind[f.value], f.short)
		}
	}
	var kinds []string
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds, byKind
}

func subNames(items []compItem) []string {
	var out []string
	for _, s := range items {
		out = append(out, s.name)
	}
	return out
}
