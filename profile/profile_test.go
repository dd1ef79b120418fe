package profile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// testRun stands in for main's RunCmd: one flag of each kind the config file
// maps, and a Validate that refuses a clash.
type testRun struct {
	Memory   string   `help:"Memory limit."`
	Hostname string   `help:"Host name."`
	Env      []string `short:"e" help:"Variables."`
	Rw       []string `help:"Writable paths."`
	Net      string   `default:"none" aliases:"network" help:"Network."`
	ShareNet bool     `help:"Host network."`
	UID      int64    `name:"uid" default:"-1" help:"User ID."`
	Map      string   `enum:"auto,single" default:"auto" help:"Map."`
	Profile  string   `help:"Profile."`
	Cmd      []string `arg:"" passthrough:""`

	validated bool // as RunCmd.Validate fills unexported fields
}

func (r *testRun) Validate() error {
	if r.validated {
		return errors.New("not reset between parses")
	}
	r.validated = true
	if r.Hostname == "clash" && r.Memory != "" {
		return errors.New("--hostname clash with --memory")
	}
	return nil
}

func testGrammar() (*kong.Kong, func(), error) {
	cli := &struct {
		Run testRun `cmd:""`
	}{}
	k, err := kong.New(cli, kong.Name("sandbox"), kong.Exit(func(int) {}))
	return k, func() { cli.Run = testRun{} }, err
}

func write(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArgs(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	path := write(t, "[defaults]\nmemory = \"8G\"\nenv = [\"A=1\"]\n\n[profile.b]\ndescription = \"d\"\nshare-net = true\nnetwork = \"host\"\nrw = [\"~/x:~/y\"]\nuid = 0\n[profile.c]\n")
	c, err := Load(path, testGrammar)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Exists() || !c.HasDefaults() || !reflect.DeepEqual(c.Names(), []string{"b", "c"}) {
		t.Errorf("exists %v defaults %v names %q", c.Exists(), c.HasDefaults(), c.Names())
	}
	got, err := c.Args("b")
	want := []string{"--memory=8G", "--env=A=1", "--net=host", "--network=host", "--rw=/home/me/x:/home/me/y", "--uid=0"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := c.Args("nope"); err == nil || !strings.Contains(err.Error(), "no [profile.nope] in "+path+" (it has b, c)") {
		t.Errorf("unknown profile: %v", err)
	}
	var b strings.Builder
	if err := c.WriteTable(&b); err != nil || !strings.Contains(b.String(), "b           d (--net=host") || !strings.Contains(b.String(), "c           (no settings)") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
	missing := filepath.Join(t.TempDir(), "none.toml")
	if got, err := Args(missing, "", testGrammar); err != nil || got != nil {
		t.Errorf("missing file: %q, %v", got, err)
	}
}

// Each error is one line naming the file, the line and the key.
func TestErrors(t *testing.T) {
	for text, want := range map[string]string{
		"[defaults]\nmemroy = \"1G\"\n":                       ":2: [defaults] memroy: unknown key: not a flag of sandbox run; did you mean memory?",
		"[defaults]\n\nuid = \"0\"\n":                         ":3: [defaults] uid: want an integer, got a string",
		"[defaults]\nmap = \"bogus\"\n":                       ":2: [defaults] map: --map must be one of",
		"[defaults]\nprofile = \"x\"\n":                       ":2: [defaults] profile: a profile cannot name another profile",
		"[profile.\"a b\"]\n":                                 ":1: [profile.a b]: invalid profile name",
		"[defaults]\nhostname = \"clash\"\nmemory = \"1G\"\n": ":2: [defaults] hostname: --hostname clash with --memory",
		"x = 1\n": ":1: unknown key \"x\"",
	} {
		path := write(t, text)
		_, err := Args(path, "", testGrammar)
		if err == nil || !strings.HasPrefix(err.Error(), path+":") || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want one line %q", text, err, want)
		}
	}
}

func TestFile(t *testing.T) {
	t.Setenv(Env, "")
	t.Setenv("HOME", "/home/me")
	t.Setenv("XDG_CONFIG_HOME", "relative")
	if got, _ := File(); got != "/home/me/.config/sandbox/config.toml" {
		t.Errorf("relative XDG_CONFIG_HOME: %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "/x")
	if got, _ := File(); got != "/x/sandbox/config.toml" {
		t.Errorf("XDG_CONFIG_HOME: %q", got)
	}
	t.Setenv(Env, "/dev/null")
	if got, _ := File(); got != "/dev/null" {
		t.Errorf("%s: %q", Env, got)
	}
}

func TestClearEmpty(t *testing.T) {
	in := []string{"--memory=1G", "-e", "A=1", "--uid", "0", "--env=", "--memory=", "--share-net", "--", "x", "--uid="}
	want := []string{"--uid", "0", "--share-net", "--", "x", "--uid="}
	if got := ClearEmpty(in, testGrammar); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
