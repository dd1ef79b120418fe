package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sandbox/profile"
)

// writeConfig writes a config file and points SANDBOX_CONFIG at it.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profile.Env, path)
	return path
}

const exampleConfig = `# comment
[defaults]
memory = "8G"
hostname = "def"
env = ["A=1"]

[profile.build]
description = "build with network and 4G of memory"
share-net = true
memory = "4G"
rw = ["~/.cache/go-build", "~/src:~/dst"]
env = ["GOFLAGS=-mod=mod"]

[profile.offline]
hostname = "off"
cpus = 2
uid = 0
clearenv = false
hide = ["~/src/secret", "/abs"]
`

func TestProfileArgs(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	path := writeConfig(t, exampleConfig)
	for _, c := range []struct {
		name string
		want []string
	}{
		{"", []string{"--memory=8G", "--hostname=def", "--env=A=1"}},
		{"build", []string{"--memory=8G", "--hostname=def", "--env=A=1",
			"--net=host", "--memory=4G", "--rw=/home/me/.cache/go-build", "--rw=/home/me/src:/home/me/dst", "--env=GOFLAGS=-mod=mod"}},
		{"offline", []string{"--memory=8G", "--hostname=def", "--env=A=1",
			"--hostname=off", "--cpus=2", "--uid=0", "--clearenv=false", "--hide=/home/me/src/secret", "--hide=/abs"}},
	} {
		got, err := profile.Args(path, c.name, runGrammar)
		if err != nil {
			t.Errorf("%q: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	if _, err := profile.Args(path, "nope", runGrammar); err == nil || !strings.Contains(err.Error(), "no [profile.nope] in "+path+" (it has build, offline)") {
		t.Errorf("unknown profile: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.toml")
	if got, err := profile.Args(missing, "", runGrammar); err != nil || got != nil {
		t.Errorf("missing file: %q, %v; want nothing", got, err)
	}
	if _, err := profile.Args(missing, "build", runGrammar); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("--profile with a missing file: %v", err)
	}
}

// The command line wins over the profile, which wins over [defaults]; lists
// add up in that order.
func TestProfilePrecedence(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	writeConfig(t, exampleConfig)
	for _, c := range []struct {
		args     []string
		memory   string
		hostname string
		net      string
		uid      int64
		env      []string
	}{
		{[]string{"--", "true"}, "8G", "def", "none", -1, []string{"A=1"}},
		{[]string{"--profile", "build", "--", "true"}, "4G", "def", "host", -1, []string{"A=1", "GOFLAGS=-mod=mod"}},
		{[]string{"--profile=build", "--memory", "1G", "--net", "none", "-e", "B=2", "--", "true"}, "1G", "def", "none", -1, []string{"A=1", "GOFLAGS=-mod=mod", "B=2"}},
		{[]string{"run", "--profile", "offline", "--hostname", "cli", "--uid", "7", "--memory=", "true"}, "", "cli", "none", 7, []string{"A=1"}},
		{[]string{"--hostname", "x", "--profile", "offline", "--", "true"}, "8G", "x", "none", 0, []string{"A=1"}},
	} {
		args, err := withProfile(c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		cli, err := parse(t, args...)
		if err != nil {
			t.Errorf("%q -> %q: %v", c.args, args, err)
			continue
		}
		r := cli.Run
		if r.Memory != c.memory || r.Hostname != c.hostname || r.Net != c.net || r.UID != c.uid || !reflect.DeepEqual(r.Env, c.env) {
			t.Errorf("%q -> %q:\n got memory %q hostname %q net %q uid %d env %q\nwant memory %q hostname %q net %q uid %d env %q",
				c.args, args, r.Memory, r.Hostname, r.Net, r.UID, r.Env, c.memory, c.hostname, c.net, c.uid, c.env)
		}
	}
}

// The profile's mounts come first, in file order, then the user's, whatever
// kinds they are.
func TestProfileMountOrder(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	writeConfig(t, "[profile.p]\nro = [\"/a\"]\ntmpfs = [\"/t\"]\nrw = [\"~/b\"]\n")
	args, err := withProfile([]string{"--profile", "p", "--rw", "/c", "--tmpfs=/u", "--", "true"})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := parse(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	got := orderedMountFlags(cli.Run.argv, &cli.Run)
	want := []mountFlag{{"--ro", "/a"}, {"--tmpfs", "/t"}, {"--rw", "/home/me/b"}, {"--rw", "/c"}, {"--tmpfs", "/u"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWithProfileLeavesOthers(t *testing.T) {
	writeConfig(t, exampleConfig)
	for _, args := range [][]string{
		nil, {"--help"}, {"-h", "--", "x"}, {"run", "--help"}, {"ls"}, {"check", "--json"}, {"diff", "x"}, {"completion", "bash"},
	} {
		got, err := withProfile(args)
		if err != nil || !reflect.DeepEqual(got, args) {
			t.Errorf("%q: got %q, %v; want it unchanged", args, got, err)
		}
	}
	got, _ := withProfile([]string{"-v", "--", "id"})
	if want := []string{"--memory=8G", "--hostname=def", "--env=A=1", "-v", "--", "id"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default command: got %q, want %q", got, want)
	}
	got, _ = withProfile([]string{"run", "--", "id", "--profile", "build"})
	if want := []string{"run", "--memory=8G", "--hostname=def", "--env=A=1", "--", "id", "--profile", "build"}; !reflect.DeepEqual(got, want) {
		t.Errorf("--profile after --: got %q, want %q", got, want)
	}
}

// Every malformed file is a one-line error naming the file, the line and the
// field.
func TestProfileErrors(t *testing.T) {
	for _, c := range []struct {
		name, text, want string
	}{
		{"syntax", "[defaults]\nmemory = \"4G\"\n[profile.build\n", ":3: "},
		{"bare value", "[defaults]\n\nmemory = 4G\n", ":3: "},
		{"unterminated string", "[defaults]\nmemory = \"4G\n", ":2: "},
		{"duplicate key", "[defaults]\nmemory = \"1G\"\nmemory = \"2G\"\n", ":3: "},
		{"duplicate table", "[profile.a]\nuid = 1\n[profile.a]\nuid = 2\n", ":3: "},
		{"unknown key", "[defaults]\nuid = 0\n\n[profile.build]\nmemroy = \"4G\"\n", ":5: [profile.build] memroy: unknown key: not a flag of sandbox run; did you mean memory?"},
		{"unknown key far", "[defaults]\nxyzzy = 1\n", ":2: [defaults] xyzzy: unknown key: not a flag of sandbox run (see sandbox run --help)"},
		{"short name", "[defaults]\ne = [\"A=1\"]\n", ":2: [defaults] e: unknown key"},
		{"profile in profile", "[profile.a]\nprofile = \"b\"\n", ":2: [profile.a] profile: a profile cannot name another profile"},
		{"unknown table", "[defaults]\nuid = 0\n[profiles.build]\nuid = 1\n", ":3: unknown table \"profiles\""},
		{"top-level key", "memory = \"1G\"\n", ":1: unknown key \"memory\""},
		{"defaults not a table", "defaults = 1\n", ":1: defaults: want a table, got an integer"},
		{"profile not a table", "profile = \"x\"\n", ":1: profile: want [profile.NAME] tables, got a string"},
		{"profile entry not a table", "[profile]\nbuild = 3\n", ":2: profile.build: want a table, got an integer"},
		{"bad profile name", "[profile.\"a b\"]\nuid = 1\n", ":1: [profile.a b]: invalid profile name"},
		{"bool as string", "[profile.p]\nshare-net = \"yes\"\n", ":2: [profile.p] share-net: want true or false, got a string"},
		{"list as string", "[defaults]\nrw = \"~/x\"\n", ":2: [defaults] rw: want a list of strings, e.g. rw = [\"...\"], got a string"},
		{"list item", "[defaults]\nenv = [\"A=1\", 2]\n", ":2: [defaults] env: item 2: want a string, got an integer"},
		{"int as string", "[defaults]\nuid = \"0\"\n", ":2: [defaults] uid: want an integer, got a string"},
		{"int as float", "[defaults]\npids = 1.5\n", ":2: [defaults] pids: want an integer, got a float"},
		{"string as table", "[defaults]\nmemory = { max = 1 }\n", ":2: [defaults] memory: want a string, got a table"},
		{"string as bool", "[defaults]\nhostname = true\n", ":2: [defaults] hostname: want a string, got a boolean"},
		{"date", "[defaults]\nhostname = 1979-05-27\n", ":2: [defaults] hostname: want a string, got a date or time"},
		{"description type", "[profile.p]\ndescription = 1\n", ":2: [profile.p] description: want a string, got an integer"},
		{"description in defaults", "[defaults]\ndescription = \"x\"\n", ":2: [defaults] description: unknown key"},
		{"dotted key", "[profile.p]\nuid = 1\nprofile.q.memroy = \"1G\"\n", ":3: [profile.p] profile: a profile cannot name another profile"},
		{"inline table", "profile = { p = { memroy = \"1G\" } }\n", ":1: [profile.p] memroy: unknown key"},
		{"dotted top", "\nprofile.p.memroy = \"1G\"\n", ":2: [profile.p] memroy: unknown key"},
		{"bad value", "[profile.p]\nhostname = \"h\"\nuid = -5\n", ":3: [profile.p] uid: --uid -5: out of range"},
		{"bad enum", "[defaults]\n\nmap = \"bogus\"\n", ":3: [defaults] map: "},
		{"bad size", "[profile.p]\nmemory = \"4X\"\n", ":2: [profile.p] memory: --memory parse size \"4X\""},
		{"negative uint", "[profile.p]\npids = -2\n", ":2: [profile.p] pids: "},
		{"clash", "[profile.p]\nhostname = \"h\"\ncgroup = \"none\"\nmemory = \"1G\"\n", "[profile.p] cgroup: --cgroup none with --memory 1G: a limit needs a cgroup; drop --cgroup none, or the limit (--memory= clears it, a profile's too)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.text)
			name := ""
			if strings.Contains(c.text, "profile.p") || strings.Contains(c.text, "p = {") {
				name = "p"
			}
			_, err := profile.Args(path, name, runGrammar)
			if err == nil {
				t.Fatalf("no error for:\n%s", c.text)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("got  %q\nwant one line %q...%q", msg, path, c.want)
			}
		})
	}
}

// [defaults] that clash with a profile are blamed on both.
func TestProfileClashAcrossSections(t *testing.T) {
	path := writeConfig(t, "[defaults]\nwait = true\n[profile.p]\nhostname = \"h\"\n")
	_, err := profile.Args(path, "p", runGrammar)
	if err == nil || !strings.Contains(err.Error(), ":2: [defaults] wait: --wait needs --name") {
		t.Errorf("got %v", err)
	}
	path = writeConfig(t, "[defaults]\ncgroup = \"none\"\n[profile.p]\nmemory = \"1G\"\npids = 10\n")
	_, err = profile.Args(path, "p", runGrammar)
	if err == nil || !strings.Contains(err.Error(), "[defaults] cgroup: --cgroup none with --memory 1G --pids 10:") {
		t.Errorf("got %v", err)
	}
}

func TestProfileSummary(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	c, err := profile.Load(writeConfig(t, exampleConfig), runGrammar)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	summary := map[string]string{}
	for l := range strings.Lines(b.String()) {
		name, rest, _ := strings.Cut(strings.TrimSpace(l), "  ")
		summary[name] = strings.TrimSpace(rest)
	}
	if got, want := summary["build"], "build with network and 4G of memory (--net=host --memory=4G --rw=/home/me/.cache/go-build --rw=/home/me/src:/home/me/dst --env=GOFLAGS=-mod=mod)"; got != want {
		t.Errorf("summary:\n got %q\nwant %q", got, want)
	}
	if got := summary["offline"]; !strings.HasPrefix(got, "--hostname=off --cpus=2") {
		t.Errorf("summary without description: %q", got)
	}
	if got := summary["[defaults]"]; got != "--memory=8G --hostname=def --env=A=1" {
		t.Errorf("summary of [defaults]: %q", got)
	}
}

func TestProfileConfigFile(t *testing.T) {
	t.Setenv(profile.Env, "")
	t.Setenv("HOME", "/home/me")
	t.Setenv("XDG_CONFIG_HOME", "")
	if got, _ := profile.File(); got != "/home/me/.config/sandbox/config.toml" {
		t.Errorf("default: %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative")
	if got, _ := profile.File(); got != "/home/me/.config/sandbox/config.toml" {
		t.Errorf("relative XDG_CONFIG_HOME: %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "/x")
	if got, _ := profile.File(); got != "/x/sandbox/config.toml" {
		t.Errorf("XDG_CONFIG_HOME: %q", got)
	}
	t.Setenv(profile.Env, "/dev/null")
	if got, _ := profile.File(); got != "/dev/null" {
		t.Errorf("SANDBOX_CONFIG: %q", got)
	}
	if args, err := withProfile([]string{"--", "true"}); err != nil || len(args) != 2 {
		t.Errorf("SANDBOX_CONFIG=/dev/null: %q, %v", args, err)
	}
}

// Reading a profile costs little next to a run's start-up.
func TestProfileCost(t *testing.T) {
	path := writeConfig(t, exampleConfig)
	start := time.Now()
	const n = 20
	for range n {
		if _, err := profile.Args(path, "build", runGrammar); err != nil {
			t.Fatal(err)
		}
	}
	if per := time.Since(start) / n; per > 20*time.Millisecond {
		t.Errorf("profileArgs takes %v a call", per)
	} else {
		t.Logf("profileArgs: %v a call", per)
	}
}

// --FLAG= (an empty value) clears every flag that takes a value, a profile's
// too: ints and enums as strings, and the values a repeatable flag gathered.
func TestClearEmpty(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"--pids=10", "--memory=1G", "--pids=", "--", "x", "--pids="}, []string{"--memory=1G", "--", "x", "--pids="}},
		{[]string{"--uid", "0", "--map=single", "--uid=", "--map=", "--", "id"}, []string{"--", "id"}},
		{[]string{"--rw=/a", "-e", "A=1", "--rw", "/b", "--rw=", "--rw=/c", "--env=", "--", "x"}, []string{"--rw=/c", "--", "x"}},
		{[]string{"--network=host", "--net=", "--verbose", "-w", "/x", "--chdir=", "--", "x"}, []string{"--verbose", "--", "x"}},
		{[]string{"--cow", "-v", "/a:/b", "--volume=", "--", "x"}, []string{"--cow", "--", "x"}},
		{[]string{"--hostname=h", "--", "--hostname="}, []string{"--hostname=h", "--", "--hostname="}},
	} {
		if got := profile.ClearEmpty(c.in, runGrammar); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ClearEmpty(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Then kong parses what is left: --pids= after a profile's pids is no
	// limit, not an error.
	cli, err := parse(t, profile.ClearEmpty([]string{"--pids=10", "--io-weight=5", "--cgroup=none", "--pids=", "--io-weight=", "--", "true"}, runGrammar)...)
	if err != nil || cli.Run.Pids != -1 || cli.Run.IOWeight != -1 {
		t.Errorf("cleared limits: %v, pids %d io-weight %d", err, cli.Run.Pids, cli.Run.IOWeight)
	}
}

// podman's names work as keys too: volume (with ~ on both sides), network,
// workdir, env-file.
func TestProfilePodmanKeys(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	writeConfig(t, "[profile.p]\nvolume = [\"~/src:~/dst:ro\"]\nnetwork = \"host\"\nworkdir = \"~/w\"\nenv-file = [\"~/env\"]\n")
	args, err := withProfile([]string{"--profile", "p", "--", "true"})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := parse(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	r := cli.Run
	if !reflect.DeepEqual(r.Volume, []string{"/home/me/src:/home/me/dst:ro"}) || r.Net != "host" || r.Chdir != "/home/me/w" ||
		!reflect.DeepEqual(r.EnvFile, []string{"/home/me/env"}) {
		t.Errorf("%q: volume %q net %q chdir %q env-file %q", args, r.Volume, r.Net, r.Chdir, r.EnvFile)
	}
}
