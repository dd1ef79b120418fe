package main

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The run command's flags, parsed without kong's model (issue 15).
//
// kong builds a model of the command before it parses anything: every field
// reflected, every tag parsed, help, hooks and mappers set up. On this
// project's VM that is ~5 ms of a plain run's ~45 ms, most of it first
// touches of fresh memory (page faults). A plain run's command line,
// `sandbox [run] [FLAGS] -- COMMAND...`, whose flags are of the few simple
// kinds RunCmd has, needs none of it: parseRunFast reads the same struct tags
// kong reads, so RunCmd stays the one source of truth for the flags, and
// fills RunCmd as kong would. Wherever it is not sure to do exactly what kong
// does (an unknown flag, a value that looks like a flag, an escape in a
// list, a number or enum value kong would refuse, a flag with a mapper of
// its own, a tag it does not know) it declines, and kong parses and reports.
// TestFastParseMatchesKong and FuzzFastParse hold the two to one result.

// fastFlag is one flag of RunCmd as kong's tags define it.
type fastFlag struct {
	index  []int        // field path in RunCmd
	kind   reflect.Kind // String, Bool, Int, Int64, or Slice (of string)
	sep    string       // a list's separator; "" when values are not split
	enum   []string
	def    string
	hasDef bool
	mapper bool // type:"..." (path, ...): kong's mapper; declined when used
}

// fastTable is RunCmd's flags by long name (and alias) and short name, and
// where the command goes.
type fastTable struct {
	long  map[string]*fastFlag
	short map[byte]*fastFlag
	flags []*fastFlag
	cmd   []int // the passthrough argument
}

// fastTagKeys are the tag keys whose meaning fastTable follows. A field with
// any other key (env, xor, required, negatable, ...) makes it decline every
// command line, until it is taught that key.
var fastTagKeys = []string{"name", "short", "aliases", "default", "enum", "sep", "type",
	"help", "placeholder", "group", "hidden", "arg", "optional", "passthrough"}

// newFastTable reads t's fields and tags; ok is false where it meets
// something it does not handle as kong does.
func newFastTable(t reflect.Type) (*fastTable, bool) {
	ft := &fastTable{long: map[string]*fastFlag{}, short: map[byte]*fastFlag{}}
	if !ft.add(t, nil) || ft.cmd == nil {
		return nil, false
	}
	return ft, true
}

func (ft *fastTable) add(t reflect.Type, path []int) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue // kong skips them too (RunCmd.argv)
		}
		idx := append(slices.Clip(path), i)
		tag, ok := tagPairs(f.Tag)
		if !ok {
			return false
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct && len(tag) == 0 {
			// An embedded group (ViewFlags, ...): kong flattens it.
			if !ft.add(f.Type, idx) {
				return false
			}
			continue
		}
		if _, ok := tag["arg"]; ok {
			if _, pass := tag["passthrough"]; !pass || ft.cmd != nil || f.Type != reflect.TypeFor[[]string]() {
				return false
			}
			ft.cmd = idx
			continue
		}
		fl := &fastFlag{index: idx, kind: f.Type.Kind()}
		switch f.Type {
		case reflect.TypeFor[string](), reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[int64]():
		case reflect.TypeFor[[]string]():
			fl.sep = ","
			if s, ok := tag["sep"]; ok {
				if s != "none" {
					return false
				}
				fl.sep = ""
			}
		default:
			return false // a type kong maps some other way
		}
		if _, ok := tag["sep"]; ok && fl.kind != reflect.Slice {
			return false
		}
		_, fl.mapper = tag["type"]
		if e, ok := tag["enum"]; ok {
			fl.enum = strings.Split(e, ",")
		}
		fl.def, fl.hasDef = tag["default"]
		name := tag["name"]
		if name == "" {
			name = kebab(f.Name)
		}
		names := []string{name}
		if a, ok := tag["aliases"]; ok {
			names = append(names, strings.Split(a, ",")...)
		}
		for _, n := range names {
			if n == "" || ft.long[n] != nil {
				return false
			}
			ft.long[n] = fl
		}
		if s, ok := tag["short"]; ok {
			if len(s) != 1 || s[0] >= 0x80 || ft.short[s[0]] != nil {
				return false
			}
			ft.short[s[0]] = fl
		}
		ft.flags = append(ft.flags, fl)
	}
	return true
}

// kebab is kong's flag name for a field without a name tag: AllowHostLoopback
// is allow-host-loopback. (Fields whose names hold initialisms have name
// tags; TestFastParseMatchesKong checks every name against kong's.)
func kebab(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// tagPairs splits a struct tag into its keys and values, as
// reflect.StructTag.Lookup reads them; ok is false for a key fastTable does
// not know, or a tag it cannot read.
func tagPairs(tag reflect.StructTag) (map[string]string, bool) {
	m := map[string]string{}
	s := string(tag)
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return m, true
		}
		key, rest, ok := strings.Cut(s, ":")
		if !ok || !slices.Contains(fastTagKeys, key) || !strings.HasPrefix(rest, `"`) {
			return nil, false
		}
		// The value's closing quote: the first one not escaped.
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return nil, false
		}
		v, err := strconv.Unquote(rest[:end+1])
		if err != nil {
			return nil, false
		}
		m[key] = v
		s = rest[end+1:]
	}
}

// set gives the flag the value s as kong's mappers would, or says no.
func (fl *fastFlag) set(root reflect.Value, s string) bool {
	if fl.enum != nil && !slices.Contains(fl.enum, s) {
		return false
	}
	f := root.FieldByIndex(fl.index)
	switch fl.kind {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		// kong's int mapper reads base prefixes (0x, 0o, 0b, 0) too.
		n, err := strconv.ParseInt(s, 0, f.Type().Bits())
		if err != nil {
			return false
		}
		f.SetInt(n)
	case reflect.Slice:
		items := []string{s}
		if fl.sep != "" {
			// kong splits with escapes (a\,b); those are kong's to read.
			if strings.Contains(s, `\`) {
				return false
			}
			items = strings.Split(s, fl.sep)
			if items[len(items)-1] == "" {
				items = items[:len(items)-1] // kong drops a last empty item
			}
			if len(items) == 0 {
				return false // kong's list is then empty, not nil
			}
		}
		f.Set(reflect.AppendSlice(f, reflect.ValueOf(items)))
	default:
		return false
	}
	return true
}

// parseRunFast parses a plain run command line (what runFast gets) into a
// validated RunCmd, as kong would; ok is false where it declines.
func parseRunFast(args []string) (r *RunCmd, ok bool) {
	ft, ok := newFastTable(reflect.TypeFor[RunCmd]())
	if !ok {
		return nil, false
	}
	// What kong parses, and what AfterApply keeps (RunCmd.argv).
	if len(args) == 0 || args[0] != "run" {
		args = append([]string{"run"}, args...)
	}
	end := slices.Index(args, "--")
	if end < 0 || end == len(args)-1 {
		return nil, false
	}
	for _, a := range args[:end] {
		if !utf8.ValidString(a) {
			return nil, false // kong turns such bytes into U+FFFD
		}
	}
	r = &RunCmd{}
	v := reflect.ValueOf(r).Elem()
	for _, fl := range ft.flags {
		if fl.hasDef && !fl.set(v, fl.def) {
			return nil, false
		}
	}
	for i := 1; i < end; i++ {
		a := args[i]
		var fl *fastFlag
		val, inline := "", false
		switch {
		case strings.HasPrefix(a, "--"):
			var name string
			name, val, inline = strings.Cut(a[2:], "=")
			fl = ft.long[name]
		case len(a) == 2 && a[0] == '-':
			fl = ft.short[a[1]]
		}
		if fl == nil || fl.mapper {
			return nil, false
		}
		if fl.kind == reflect.Bool {
			if inline {
				return nil, false // --flag=VALUE: kong's to read
			}
			v.FieldByIndex(fl.index).SetBool(true)
			continue
		}
		if !inline {
			// The next word is the value, unless it looks like a flag
			// (kong would not take it: --uid -1 is kong's to read).
			if i++; i >= end || strings.HasPrefix(args[i], "-") {
				return nil, false
			}
			val = args[i]
		}
		if !fl.set(v, val) {
			return nil, false
		}
	}
	// kong keeps the "--" in the passthrough argument; validate drops it.
	v.FieldByIndex(ft.cmd).Set(reflect.ValueOf(slices.Clone(args[end:])))
	r.argv = args
	if r.validate(args) != nil {
		return nil, false
	}
	return r, true
}
