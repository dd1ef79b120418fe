package main

// Profiles: [defaults] and [profile.NAME] tables of ~/.config/sandbox/config.toml
// whose keys are the long flags of `sandbox run`. They become command-line
// flags that main puts ahead of the user's own, so kong's rules give the
// precedence: the last value of a scalar flag wins (defaults, then the profile,
// then the command line), and the values of a repeatable flag add up.
//
// Runs in the parent, before kong parses the command line.

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

// configEnv names another config file; /dev/null means none.
const configEnv = "SANDBOX_CONFIG"

// configFile is $SANDBOX_CONFIG, else $XDG_CONFIG_HOME/sandbox/config.toml,
// else ~/.config/sandbox/config.toml.
func configFile() (string, error) {
	if p := os.Getenv(configEnv); p != "" {
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

// profileConfig is a parsed, checked config file.
type profileConfig struct {
	path     string
	exists   bool
	defaults *profileSection   // nil without [defaults]
	profiles []*profileSection // in file order
	model    *runModel
}

// profileSection is [defaults] or one [profile.NAME].
type profileSection struct {
	name        string // "" for [defaults]
	description string
	settings    []profileSetting // in file order
}

// profileSetting is one key of a section and the flags it stands for.
type profileSetting struct {
	section *profileSection
	key     string
	line    int
	args    []string
}

func (s *profileSection) title() string {
	if s.name == "" {
		return "[defaults]"
	}
	return "[profile." + s.name + "]"
}

// profile returns [profile.name], or nil.
func (c *profileConfig) profile(name string) *profileSection {
	for _, p := range c.profiles {
		if p.name == name {
			return p
		}
	}
	return nil
}

// profileArgs returns the flags of [defaults] and then of [profile.name] (none
// when name is "") of the config file at path, e.g. ["--memory=4G",
// "--net=host", "--rw=/home/me/.cache/go-build"]. A missing file has no
// defaults. Every error is one line naming the file, the line and the field.
func profileArgs(path, name string) ([]string, error) {
	c, err := loadProfiles(path)
	if err != nil {
		return nil, err
	}
	return c.args(name)
}

func (c *profileConfig) args(name string) ([]string, error) {
	var settings []profileSetting
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

func (c *profileConfig) noProfile(name string) error {
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

// blame finds the setting that kong or RunCmd.Validate refused: the first one
// without which the rest parses (of two settings that clash, the earlier).
// When no single setting is to blame, the error names the sections.
func (c *profileConfig) blame(settings []profileSetting, name string, err error) error {
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

// runModel is kong's model of `sandbox run` on a throwaway RunCmd: its flags
// by long name, so that a key is valid exactly when the flag exists, and a
// parser to try values with (kong's mappers, enums and RunCmd.Validate).
type runModel struct {
	cli struct {
		Run RunCmd `cmd:""`
	}
	parser *kong.Kong
	flags  map[string]*kong.Flag
}

func newRunModel() (*runModel, error) {
	m := &runModel{flags: map[string]*kong.Flag{}}
	var err error
	m.parser, err = kong.New(&m.cli, kong.Name("sandbox"), kong.Exit(func(int) {}))
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
func (m *runModel) try(args []string) error {
	m.cli.Run = RunCmd{} // Validate fills unexported fields; start clean
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

// loadProfiles reads and checks the config file at path; a missing one is
// empty.
func loadProfiles(path string) (*profileConfig, error) {
	c := &profileConfig{path: path}
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
	if c.model, err = newRunModel(); err != nil {
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

func (p *configParser) profiles(v any) ([]*profileSection, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf([]string{"profile"}, "profile: want [profile.NAME] tables, got %s", tomlKind(v))
	}
	var out []*profileSection
	for _, name := range p.sorted([]string{"profile"}, m) {
		if err := validProfileName(name); err != nil {
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

func validProfileName(name string) error {
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
func (p *configParser) section(top, name string, v any) (*profileSection, error) {
	path := []string{top}
	s := &profileSection{name: name}
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
		s.settings = append(s.settings, profileSetting{section: s, key: key, line: p.line(keys), args: args})
	}
	return s, nil
}
