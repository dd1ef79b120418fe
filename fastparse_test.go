package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// kongRun parses args as runFast's kong path does; nil where kong refuses.
func kongRun(t testing.TB, args []string) *RunCmd {
	t.Helper()
	var cli runOnly
	parser, err := kong.New(&cli, kong.Name("sandbox"), kong.Exit(func(int) { panic(exitNow{}) }))
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 || args[0] != "run" {
		args = append([]string{"run"}, args...)
	}
	if _, err := parseQuiet(parser, args); err != nil {
		return nil
	}
	return &cli.Run
}

// sameAsKong fails t where parseRunFast accepts args and kong refuses them or
// reads them otherwise; it reports whether parseRunFast accepted.
func sameAsKong(t testing.TB, args []string) bool {
	t.Helper()
	fast, ok := parseRunFast(slices.Clone(args))
	if !ok {
		return false
	}
	want := kongRun(t, slices.Clone(args))
	if want == nil {
		t.Fatalf("%q: parseRunFast accepts what kong refuses: %+v", args, *fast)
	}
	if !reflect.DeepEqual(*fast, *want) {
		t.Fatalf("%q: parseRunFast and kong differ:\nfast %+v\nkong %+v", args, *fast, *want)
	}
	return true
}

// TestFastParseMatchesKong checks every flag's names against kong's model,
// then parses command lines with each flag in each form both ways.
func TestFastParseMatchesKong(t *testing.T) {
	ft, ok := newFastTable(reflect.TypeFor[RunCmd]())
	if !ok {
		t.Fatal("parseRunFast cannot read RunCmd's tags: teach fastparse.go the new field's kind or tag, or every run pays for kong's model")
	}
	parser, err := kong.New(&runOnly{}, kong.Name("sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	var kongNames []string
	samples := map[string]string{} // a value kong takes, per flag
	for _, f := range parser.Model.Children[0].Flags {
		if f.Name == "help" {
			continue
		}
		kongNames = append(kongNames, "--"+f.Name)
		for _, a := range f.Aliases {
			kongNames = append(kongNames, "--"+a)
		}
		if f.Short != 0 {
			kongNames = append(kongNames, "-"+string(f.Short))
		}
		v := "x"
		switch {
		case len(f.Enum) > 0:
			v = f.EnumSlice()[len(f.EnumSlice())-1]
		case f.Target.Kind() == reflect.Int || f.Target.Kind() == reflect.Int64:
			v = "7"
		}
		samples[f.Name] = v
	}
	var fastNames []string
	for n := range ft.long {
		fastNames = append(fastNames, "--"+n)
	}
	for c := range ft.short {
		fastNames = append(fastNames, "-"+string(rune(c)))
	}
	slices.Sort(kongNames)
	slices.Sort(fastNames)
	if !slices.Equal(kongNames, fastNames) {
		t.Fatalf("flag names differ:\nkong %q\nfast %q", kongNames, fastNames)
	}

	accepted := 0
	try := func(args ...string) {
		if sameAsKong(t, args) {
			accepted++
		}
	}
	try("--", "true")
	try("run", "--", "make", "-j2")
	try("--", "--", "x") // kong refuses it: a command starting with "-"
	for _, f := range parser.Model.Children[0].Flags {
		if f.Name == "help" {
			continue
		}
		names := append([]string{f.Name}, f.Aliases...)
		v := samples[f.Name]
		for _, n := range names {
			if f.IsBool() {
				try("--"+n, "--", "true")
				try("--"+n, "--"+n, "--", "sh", "-c", "x")
				continue
			}
			try("--"+n, v, "--", "true")
			try("--"+n+"="+v, "--", "true")
			try("--"+n+"="+v, "--"+n, v, "--", "true") // twice: the last wins, a list grows
			try("--"+n+"=", "--", "true")
			try("--"+n, "-x", "--", "true")
		}
		if f.Short != 0 {
			if f.IsBool() {
				try("-"+string(f.Short), "--", "true")
			} else {
				try("-"+string(f.Short), v, "--", "true")
			}
		}
	}
	// Lists, numbers, enums, edge values.
	for _, args := range [][]string{
		{"--cap-add", "NET_RAW,SYS_ADMIN", "--", "true"},
		{"--cap-add", "a,,b,", "--", "true"},
		{"--cap-add", `a\,b`, "--", "true"},
		{"--cap-add", ",", "--", "true"},
		{"--rw", "a,b", "--rw=c", "--", "true"},
		{"--uid", "0x10", "--gid=010", "--", "true"},
		{"--uid", "4294967295", "--", "true"},
		{"--pids", "99999999999999999999", "--", "true"},
		{"--net", "bogus", "--", "true"},
		{"--map", "single", "--map=subids", "--", "true"},
		{"--stop-timeout=-2", "--", "true"},
		{"-e", "A=B", "-eC=D", "--", "env"},
		{"-it", "--", "sh"},
		{"--verbose=true", "--", "true"},
		{"--share-net", "--net", "user", "--", "true"},
		{"--image", "busybox", "--", "-c", "x"},
		{"--report", "r.json", "--", "true"},
		{"run", "--", ""},
		{"--", ""},
		{"--hostname", "--", "true"},
		{"make", "--", "true"},
	} {
		try(args...)
	}
	// The common lines must take the fast path, or it saves nothing.
	for _, args := range [][]string{
		{"--", "true"},
		{"--rw", ".", "--net", "user", "-e", "A=B", "--memory", "1G", "--", "make"},
		{"--uid", "0", "--cap-add", "NET_RAW", "-p", "8080:80", "--", "sh"},
		{"--name", "n", "--cow", "--tmp-size=1g", "--", "sh"},
	} {
		if !sameAsKong(t, args) {
			t.Errorf("%q: parseRunFast declines a plain command line", args)
		}
	}
	t.Logf("%d command lines taken by parseRunFast, all as kong reads them", accepted)
}

// FuzzFastParse: whatever parseRunFast accepts, kong reads the same way.
func FuzzFastParse(f *testing.F) {
	for _, s := range []string{
		"--\ntrue",
		"--rw\n.\n--net=user\n-e\nA=B\n--\nmake",
		"--cap-add\na,,b\n--uid\n0x1f\n--\nsh",
		"run\n--map\nsingle\n--hostname\nh\n--\nx",
		"-v\n/a:/b:ro\n-p\n80\n--stop-timeout\n-1\n--\ny",
		"--image\ni\n--\n-c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sameAsKong(t, strings.Split(s, "\n"))
	})
}
