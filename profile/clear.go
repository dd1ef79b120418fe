package profile

import (
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// ClearEmpty gives `--FLAG=` (an empty value) one meaning for every flag of
// `sandbox run` that takes a value: back to the default. It drops that
// argument and every earlier value of the flag, so `--pids=` clears a
// profile's pids as `--memory=` clears its memory, `--uid=` its uid and
// `--rw=` the binds it added. Only what precedes "--" is looked at; kong's
// model is built only when such an argument is there.
func ClearEmpty(args []string, g Grammar) []string {
	end, ok := hasEmpty(args)
	if !ok {
		return args
	}
	m, err := newModel(g)
	if err != nil {
		return args // kong reports the flag itself
	}
	return m.clearEmpty(args, end)
}

// clearEmpty is ClearEmpty with the model at hand; end is the index of "--".
func (m *model) clearEmpty(args []string, end int) []string {
	long, short := map[string]*kong.Flag{}, map[rune]*kong.Flag{}
	for _, f := range m.parser.Model.Children[0].Flags {
		long[f.Name] = f
		for _, a := range f.Aliases {
			long[a] = f
		}
		if f.Short != 0 {
			short[f.Short] = f
		}
	}
	type use struct {
		flag       string
		start, end int
		empty      bool
	}
	var uses []use
	for i := 0; i < end; i++ {
		a := args[i]
		var f *kong.Flag
		inline, empty := false, false
		switch {
		case strings.HasPrefix(a, "--"):
			name, val, ok := strings.Cut(a[2:], "=")
			f, inline, empty = long[name], ok, ok && val == ""
		case len(a) >= 2 && a[0] == '-':
			f, inline = short[rune(a[1])], len(a) > 2
		}
		if f == nil || f.IsBool() || f.IsCounter() {
			continue
		}
		u := use{flag: f.Name, start: i, end: i + 1, empty: empty}
		if !inline && i+1 < end {
			u.end = i + 2 // the value is the next argument
		}
		uses = append(uses, u)
		i = u.end - 1
	}
	drop := make([]bool, len(args))
	for j, u := range uses {
		if !u.empty {
			continue
		}
		for _, e := range uses[:j+1] {
			if e.flag == u.flag {
				for k := e.start; k < e.end; k++ {
					drop[k] = true
				}
			}
		}
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if !drop[i] {
			out = append(out, a)
		}
	}
	return out
}

// hasEmpty says whether some `--FLAG=` precedes "--" (at end).
func hasEmpty(args []string) (end int, ok bool) {
	end = slices.Index(args, "--")
	if end < 0 {
		end = len(args)
	}
	return end, slices.ContainsFunc(args[:end], func(a string) bool { return strings.HasPrefix(a, "--") && strings.HasSuffix(a, "=") })
}
