// Package profile reads the config file, ~/.config/sandbox/config.toml: its
// [defaults] and [profile.NAME] tables, whose keys are the long flags of
// `sandbox run`. They become command-line flags that main puts ahead of the
// user's own, so kong's rules give the precedence: the last value of a scalar
// flag wins (defaults, then the profile, then the command line), and the
// values of a repeatable flag add up. A key is valid exactly when the flag
// exists and its value parses, which kong's model of `sandbox run` (a Grammar
// from main) decides.
//
// Runs in the parent, before kong parses the command line (and in `sandbox
// profiles` and `sandbox check`).
package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/pelletier/go-toml/v2"
)

// Env names another config file; /dev/null means none.
const Env = "SANDBOX_CONFIG"

// File is $SANDBOX_CONFIG, else $XDG_CONFIG_HOME/sandbox/config.toml,
// else ~/.config/sandbox/config.toml.
func File() (string, error) {
	if p := os.Getenv(Env); p != "" {
		return p, nil
	}
	base := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(base) { // the XDG spec ignores a relative one
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find config file: %w", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "sandbox", "config.toml"), nil
}

// Config is a parsed, checked config file.
type Config struct {
	path     string
	exists   bool
	defaults *section   // nil without [defaults]
	profiles []*section // in file order
	model    *model
}

// section is [defaults] or one [profile.NAME].
type section struct {
	name        string // "" for [defaults]
	description string
	settings    []setting // in file order
}

// setting is one key of a section and the flags it stands for.
type setting struct {
	section *section
	key     string
	line    int
	args    []string
}

func (s *section) title() string {
	if s.name == "" {
		return "[defaults]"
	}
	return "[profile." + s.name + "]"
}

// profile returns [profile.name], or nil.
func (c *Config) profile(name string) *section {
	for _, p := range c.profiles {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Args returns the flags of [defaults] and then of [profile.name] (none
// when name is "") of the config file at path, e.g. ["--memory=4G",
// "--net=host", "--rw=/home/me/.cache/go-build"]. A missing file has no
// defaults. Every error is one line naming the file, the line and the field.
func Args(path, name string, g Grammar) ([]string, error) {
	c, err := Load(path, g)
	if err != nil {
		return nil, err
	}
	return c.Args(name)
}

// Args returns the flags of [defaults] and then of [profile.name] (none when
// name is "").
func (c *Config) Args(name string) ([]string, error) {
	var settings []setting
	if c.defaults != nil {
		settings = append(settings, c.defaults.settings...)
	}
	if name != "" {
		p := c.profile(name)
		if p == nil {
			return nil, c.noProfile(name)
		}
		settings = append(settings, p.settings...)
	}
	var args []string
	for _, s := range settings {
		args = append(args, s.args...)
	}
	if len(args) == 0 {
		return nil, nil
	}
	if err := c.model.try(args); err != nil {
		return nil, c.blame(settings, name, err)
	}
	return args, nil
}

func (c *Config) noProfile(name string) error {
	if !c.exists {
		return fmt.Errorf("--profile %s: %s does not exist (see sandbox profiles --help)", name, c.path)
	}
	var names []string
	for _, p := range c.profiles {
		names = append(names, p.name)
	}
	known := "it has none"
	if len(names) > 0 {
		known = "it has " + strings.Join(names, ", ")
	}
	return fmt.Errorf("--profile %s: no [profile.%s] in %s (%s)", name, name, c.path, known)
}

// blame finds the setting that kong or the command's Validate refused: the first one
// without which the rest parses (of two settings that clash, the earlier).
// When no single setting is to blame, the error names the sections.
func (c *Config) blame(settings []setting, name string, err error) error {
	for i, s := range settings {
		var rest []string
		for j, o := range settings {
			if j != i {
				rest = append(rest, o.args...)
			}
		}
		if c.model.try(rest) == nil {
			return fmt.Errorf("%s:%d: %s %s: %w", c.path, s.line, s.section.title(), s.key, err)
		}
	}
	where := "[defaults]"
	if name != "" {
		where += " with [profile." + name + "]"
	}
	return fmt.Errorf("%s: %s: %w", c.path, where, err)
}

// Grammar builds kong's model of `sandbox run` alone: a parser whose only
// command is run (so `run FLAGS -- true` parses through kong's mappers, enums
// and the command's Validate), and reset, which zeroes the command before each
// parse (Validate fills unexported fields). Main owns the command, so main
// builds it; the package calls it only when a config file or an empty --FLAG=
// needs it (start-up time).
type Grammar func() (parser *kong.Kong, reset func(), err error)

// model is the Grammar built: run's flags by long name and alias, and a
// parser to try values with.
type model struct {
	parser *kong.Kong
	reset  func()
	flags  map[string]*kong.Flag
}

func newModel(g Grammar) (*model, error) {
	m := &model{flags: map[string]*kong.Flag{}}
	var err error
	m.parser, m.reset, err = g()
	if err != nil {
		return nil, fmt.Errorf("internal error: %w", err)
	}
	for _, f := range m.parser.Model.Children[0].Flags {
		m.flags[f.Name] = f
		for _, a := range f.Aliases { // network = "host" as --network
			m.flags[a] = f
		}
	}
	return m, nil
}

// try parses args as flags of `sandbox run`.
func (m *model) try(args []string) error {
	m.reset() // Validate fills unexported fields; start clean
	if end, ok := hasEmpty(args); ok {
		args = m.clearEmpty(args, end)
	}
	_, err := m.parser.Parse(slices.Concat([]string{"run"}, args, []string{"--", "true"}))
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "run: "))
	}
	return nil
}

// notSettable are run's flags that a profile may not set.
var notSettable = map[string]string{
	"profile": "a profile cannot name another profile",
	"help":    "not a setting",
}

// Load reads and checks the config file at path against g; a missing one is
// empty.
func Load(path string, g Grammar) (*Config, error) {
	c := &Config{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c.exists = true
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, fmt.Errorf("%s:%d: %s", path, row, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.model, err = newModel(g); err != nil {
		return nil, err
	}
	p := &configParser{path: path, lines: tomlKeyLines(data), flags: c.model.flags}
	for _, k := range p.sorted(nil, doc) {
		v := doc[k]
		switch k {
		case "defaults":
			c.defaults, err = p.section(k, "", v)
		case "profile":
			c.profiles, err = p.profiles(v)
		default:
			what := "key"
			if _, ok := v.(map[string]any); ok {
				what = "table"
			}
			err = p.errorf([]string{k}, "unknown %s %q: want [defaults] and [profile.NAME] tables", what, k)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// configParser turns the decoded document into sections, with the line of
// every key for errors.
type configParser struct {
	path  string
	lines map[string]int // key path joined by "\x00" -> line
	flags map[string]*kong.Flag
}

func (p *configParser) line(keys []string) int {
	for n := len(keys); n > 0; n-- {
		if l, ok := p.lines[strings.Join(keys[:n], "\x00")]; ok {
			return l
		}
	}
	return 1
}

func (p *configParser) errorf(keys []string, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, p.line(keys), fmt.Sprintf(format, args...))
}

// sorted returns the keys of table m (at path keys) in file order.
func (p *configParser) sorted(keys []string, m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		la, lb := p.line(append(slices.Clone(keys), a)), p.line(append(slices.Clone(keys), b))
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	return out
}

func (p *configParser) profiles(v any) ([]*section, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf([]string{"profile"}, "profile: want [profile.NAME] tables, got %s", tomlKind(v))
	}
	var out []*section
	for _, name := range p.sorted([]string{"profile"}, m) {
		if err := validName(name); err != nil {
			return nil, p.errorf([]string{"profile", name}, "[profile.%s]: %v", name, err)
		}
		s, err := p.section("profile", name, m[name])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func validName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return errors.New("invalid profile name: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	return nil
}

// section checks one table: every key a flag of `sandbox run` with a value of
// its type.
func (p *configParser) section(top, name string, v any) (*section, error) {
	path := []string{top}
	s := &section{name: name}
	if name != "" {
		path = append(path, name)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf(path, "%s: want a table, got %s", strings.Join(path, "."), tomlKind(v))
	}
	for _, key := range p.sorted(path, m) {
		keys := append(slices.Clone(path), key)
		if key == "description" && name != "" {
			d, ok := m[key].(string)
			if !ok {
				return nil, p.errorf(keys, "%s description: want a string, got %s", s.title(), tomlKind(m[key]))
			}
			s.description = d
			continue
		}
		args, err := p.flagArgs(key, m[key])
		if err != nil {
			return nil, p.errorf(keys, "%s %s: %v", s.title(), key, err)
		}
		s.settings = append(s.settings, setting{section: s, key: key, line: p.line(keys), args: args})
	}
	return s, nil
}
