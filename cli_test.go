package main

import (
	"errors"
	"os/exec"
	"reflect"
	"testing"

	"github.com/alecthomas/kong"
)

func parse(t *testing.T, args ...string) (*CLI, error) {
	t.Helper()
	var cli CLI
	p, err := kong.New(&cli, kong.Name("sandbox"), kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(withRun(p, args))
	return &cli, err
}

func TestParsePassthrough(t *testing.T) {
	cli, err := parse(t, "--uid", "0", "--rw", "a,b:/x", "--", "sh", "-c", "echo --uid")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sh", "-c", "echo --uid"}; !reflect.DeepEqual(cli.Run.Cmd, want) {
		t.Errorf("Cmd = %q, want %q", cli.Run.Cmd, want)
	}
	if cli.Run.UID != 0 || !reflect.DeepEqual(cli.Run.RW, []string{"a,b:/x"}) {
		t.Errorf("flags: uid %d rw %q (a comma must not split a path)", cli.Run.UID, cli.Run.RW)
	}
	cli, err = parse(t, "--", "ls", "--all")
	if err != nil || !reflect.DeepEqual(cli.Run.Cmd, []string{"ls", "--all"}) || cli.Run.UID != -1 {
		t.Errorf("defaults: %v %q uid %d", err, cli.Run.Cmd, cli.Run.UID)
	}
	// Our subcommands' names after -- are the user's commands.
	for _, name := range []string{"rm", "diff", "commit", "ls", "version", "run"} {
		cli, err = parse(t, "--verbose", "--", name, "-rf", "x")
		if err != nil || !reflect.DeepEqual(cli.Run.Cmd, []string{name, "-rf", "x"}) {
			t.Errorf("-- %s: %v %q", name, err, cli.Run.Cmd)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--map", "bogus", "--", "true"},
		{"--uid", "x", "--", "true"},
		{"--uid", "-2", "--", "true"},
		{"--uid", "4294967295", "--", "true"},
		{"--"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%q: parsed without error", args)
		}
	}
}

func TestOrderedMountFlags(t *testing.T) {
	r := &RunCmd{RW: []string{"a", "c"}, RO: []string{"b"}, Tmpfs: []string{"/t"}, Volume: []string{"/s:/d:ro", "/e", "/f:/g"}}
	args := []string{"--rw", "a", "--ro=b", "-v", "/s:/d:ro", "--verbose", "--tmpfs", "/t", "--volume=/e", "--rw", "c", "-v/f:/g", "--", "--rw", "x"}
	got := orderedMountFlags(args, r)
	want := []mountFlag{{"--rw", "a"}, {"--ro", "b"}, {"--ro", "/s:/d"}, {"--tmpfs", "/t"}, {"--rw", "/e"}, {"--rw", "c"}, {"--rw", "/f:/g"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCommandEnv(t *testing.T) {
	t.Setenv("FROM_HOST", "h")
	host := []string{"PATH=/bin", "SSH_AUTH_SOCK=/s", "DISPLAY=:0", "XDG_RUNTIME_DIR=/run/user/1", "_SANDBOX_STAGE=init", "A=1"}
	got, err := commandEnv(host, false, []string{"B=2", "A=3", "FROM_HOST", "UNSET_XYZ", "DISPLAY=:9"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "A=3", "B=2", "FROM_HOST=h", "DISPLAY=:9"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got, _ = commandEnv(host, true, []string{"X=1"})
	if !reflect.DeepEqual(got, []string{"X=1"}) {
		t.Errorf("clearenv: got %q", got)
	}
	if _, err := commandEnv(nil, false, []string{"=v"}); err == nil {
		t.Error("--env =v accepted")
	}
}

func TestSubcommands(t *testing.T) {
	var cli CLI
	p, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Model.Children {
		names = append(names, c.Name)
	}
	if !reflect.DeepEqual(names, subcommands) {
		t.Errorf("CLI commands %q, subcommands list %q: keep them in step", names, subcommands)
	}
}

// A parse error is one line that says what to do: a message of ours that
// names its way out gets no "(see sandbox --help)", and a program named like
// one of our commands, run without "--", is shown how.
func TestParseErrorLine(t *testing.T) {
	ls := ""
	if _, err := exec.LookPath("ls"); err == nil {
		ls = "ls: unknown flag -l; to run ls, use `sandbox -- ls -la 'a b'`"
	}
	for _, c := range []struct {
		args []string
		err  string
		want string
	}{
		{[]string{"--nope", "--", "x"}, "unknown flag --nope", "unknown flag --nope (see sandbox --help)"},
		{[]string{"--nope", "--", "x"}, "run: unknown flag --nope", "unknown flag --nope (see sandbox --help)"},
		{[]string{"--pids", "0", "--", "x"}, "run: --pids 0: a limit of 0 is no limit; give a value above 0, or none: --pids= clears it",
			"--pids 0: a limit of 0 is no limit; give a value above 0, or none: --pids= clears it"},
		{[]string{"--net", "gvisor", "--", "x"}, "run: --net gvisor: missing; fix: build it", "--net gvisor: missing; fix: build it"},
		{[]string{"ls", "-la", "a b"}, `unknown flag -l, did you mean "-h"?`, ls},
	} {
		if c.want == "" {
			continue // no ls here
		}
		if got := parseErrorLine(c.args, errors.New(c.err)); got != c.want {
			t.Errorf("%q, %q:\n got %q\nwant %q", c.args, c.err, got, c.want)
		}
	}
}

// With --image, words after "--" may start with "-": they are arguments of
// the image's entrypoint. Without --image, or without "--", they are not.
func TestParseEntrypointArgs(t *testing.T) {
	cli, err := parse(t, "--image", "x", "--entrypoint", "sh", "--", "-c", "echo hi")
	if err != nil || !reflect.DeepEqual(cli.Run.Cmd, []string{"-c", "echo hi"}) {
		t.Errorf("--entrypoint sh -- -c: %v %q", err, cli.Run.Cmd)
	}
	if _, err := parse(t, "--image", "x", "--", "-c", "echo hi"); err != nil {
		t.Errorf("--image x -- -c: %v (the image's Entrypoint may take it)", err)
	}
	for _, args := range [][]string{
		{"--", "-c", "echo hi"},
		{"run", "--image", "x", "--nett"},
		{"--image", "x", "--nett", "--", "true"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%q: parsed without error", args)
		}
	}
}
