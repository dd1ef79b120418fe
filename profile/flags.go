package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// flagArgs turns key = value into the flags it stands for.
func (p *configParser) flagArgs(key string, v any) ([]string, error) {
	if why, ok := notSettable[key]; ok {
		return nil, errors.New(why)
	}
	f, ok := p.flags[key]
	if !ok {
		return nil, fmt.Errorf("unknown key: not a flag of sandbox run%s", suggestFlag(key, p.flags))
	}
	flag := "--" + key
	switch {
	case f.IsBool():
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", tomlKind(v))
		}
		if key == "share-net" {
			// As --net, so that --net on the command line overrides it
			// (--share-net with --net pasta is a clash).
			return []string{"--net=" + map[bool]string{true: "host", false: "none"}[b]}, nil
		}
		if !b {
			return []string{flag + "=false"}, nil
		}
		return []string{flag}, nil
	case f.IsSlice():
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, e.g. %s = [\"...\"], got %s", key, tomlKind(v))
		}
		var out []string
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s", i+1, tomlKind(e))
			}
			out = append(out, flag+"="+expandHomeIn(key, s))
		}
		return out, nil
	}
	switch f.Target.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %s", tomlKind(v))
		}
		return []string{flag + "=" + strconv.FormatInt(n, 10)}, nil
	case reflect.String:
		switch x := v.(type) {
		case string:
			return []string{flag + "=" + expandHomeIn(key, x)}, nil
		case int64:
			return []string{flag + "=" + strconv.FormatInt(x, 10)}, nil
		case float64:
			return []string{flag + "=" + strconv.FormatFloat(x, 'f', -1, 64)}, nil
		}
		return nil, fmt.Errorf("want a string, got %s", tomlKind(v))
	}
	return nil, fmt.Errorf("flag type %s cannot be set from a config file", f.Target.Type())
}

// pathKeys are the flags whose values are paths: a leading ~ (and a ~ after
// the colon of PATH:DEST) is $HOME.
var pathKeys = map[string]bool{
	"rw": true, "ro": true, "tmpfs": true, "hide": true, "show": true,
	"chdir": true, "workdir": true, "rootfs": true, "seccomp": true, "report": true,
	"volume": true, "env-file": true,
}

func expandHomeIn(key, v string) string {
	if !pathKeys[key] {
		return v
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return v
	}
	one := func(s string) string {
		if s == "~" {
			return home
		}
		if rest, ok := strings.CutPrefix(s, "~/"); ok {
			return filepath.Join(home, rest)
		}
		return s
	}
	src, dst, ok := strings.Cut(v, ":")
	if ok && (key == "rw" || key == "ro" || key == "volume") {
		return one(src) + ":" + one(dst)
	}
	return one(v)
}

// suggestFlag names the closest flag to a mistyped key, as "; did you mean X?".
func suggestFlag(key string, flags map[string]*kong.Flag) string {
	best, dist := "", 3 // more than two edits away is no suggestion
	for name := range flags {
		if _, ok := notSettable[name]; ok {
			continue
		}
		if d := editDistance(key, name); d < dist || d == dist && name < best {
			best, dist = name, d
		}
	}
	if best == "" {
		return " (see sandbox run --help)"
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
