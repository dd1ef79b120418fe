package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// configDir writes config.toml under a fresh XDG_CONFIG_HOME and returns the
// environment that points at it, and the file.
func configDir(t *testing.T, text string) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox", "config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"XDG_CONFIG_HOME=" + dir, "SANDBOX_CONFIG="}, path
}

// [defaults], then the profile, then the command line: scalars take the last
// value, lists add up, ~ is $HOME.
func TestProfileApplies(t *testing.T) {
	requires(t, UserNS)
	home, _ := os.UserHomeDir()
	out := workdir(t)
	rel, err := filepath.Rel(home, out)
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("work dir %s is not under HOME %s", out, home)
	}
	env, _ := configDir(t, `
[defaults]
hostname = "from-defaults"
env = ["SB_A=defaults"]

[profile.p]
description = "test profile"
hostname = "from-profile"
env = ["SB_B=profile"]
rw = ["~/`+rel+`"]
`)
	show := []string{"--", "sh", "-c", `hostname; echo "$SB_A $SB_B"`}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "from-defaults\ndefaults"},
		{[]string{"--profile", "p"}, "from-profile\ndefaults profile"},
		{[]string{"--profile=p", "--hostname", "cli", "-e", "SB_B=cli"}, "cli\ndefaults cli"},
		{[]string{"run", "--hostname", "cli", "--profile", "p"}, "cli\ndefaults profile"},
	} {
		r := sandbox(t, "", env, append(c.flags, show...)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("%q: exit %d, stdout %q, want %q; stderr %q", c.flags, r.code, r.stdout, c.want, r.stderr)
		}
	}
	// The profile's rw bind reaches the host.
	r := sandbox(t, "", env, "--profile", "p", "--", "sh", "-c", "echo hi > "+out+"/f")
	if b, err := os.ReadFile(filepath.Join(out, "f")); r.code != 0 || string(b) != "hi\n" {
		t.Errorf("rw from the profile: exit %d, %q, %v; stderr %q", r.code, b, err, r.stderr)
	}
	r = sandbox(t, "", env, "profiles")
	if r.code != 0 || !strings.Contains(r.stdout, "[defaults]  --hostname=from-defaults --env=SB_A=defaults") ||
		!strings.Contains(r.stdout, "p           test profile (--hostname=from-profile --env=SB_B=profile --rw="+out+")") {
		t.Errorf("profiles: exit %d\n%s", r.code, r.stdout)
	}
	r = sandbox(t, "", env, "profiles", "--names")
	if r.code != 0 || r.stdout != "p\n" {
		t.Errorf("profiles --names: exit %d, %q", r.code, r.stdout)
	}
	r = sandbox(t, "", env, "--profile", "nope", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "no [profile.nope]") || len(lines(r.stderr)) != 1 {
		t.Errorf("unknown profile: exit %d, %q", r.code, r.stderr)
	}
}

// A bad file is one line with the file, the line and the field, exit 125, for
// runs and for sandbox profiles; sandbox check says FAIL; help still works.
func TestProfileBadFile(t *testing.T) {
	env, path := configDir(t, "[defaults]\nhostname = \"h\"\n\n[profile.build]\nmemroy = \"4G\"\n")
	want := path + ":5: [profile.build] memroy: unknown key: not a flag of sandbox run; did you mean memory?"
	for _, args := range [][]string{{"--profile", "build", "--", "true"}, {"profiles"}} {
		r := sandbox(t, "", env, args...)
		if r.code != 125 || strings.TrimSpace(r.stderr) != "sandbox: "+want {
			t.Errorf("%q: exit %d, stderr %q; want 125 and %q", args, r.code, r.stderr, want)
		}
	}
	env2, path2 := configDir(t, "[defaults]\nshare-net = \"yes\"\n")
	r := sandbox(t, "", env2, "--", "true")
	if want := path2 + ":2: [defaults] share-net: want true or false, got a string"; r.code != 125 || strings.TrimSpace(r.stderr) != "sandbox: "+want {
		t.Errorf("wrong type: exit %d, stderr %q", r.code, r.stderr)
	}
	env3, path3 := configDir(t, "[defaults]\nmemory = 4G\n")
	r = sandbox(t, "", env3, "--", "true")
	if r.code != 125 || !strings.HasPrefix(r.stderr, "sandbox: "+path3+":2: ") || len(lines(r.stderr)) != 1 {
		t.Errorf("syntax error: exit %d, stderr %q", r.code, r.stderr)
	}
	r = sandbox(t, "", env2, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--profile") {
		t.Errorf("--help with a bad config: exit %d", r.code)
	}
	r = sandbox(t, "", env2, "check")
	if !strings.Contains(r.stdout, "FAIL  config     "+path2+":2: ") {
		t.Errorf("check with a bad config:\n%s", r.stdout)
	}
}

// The bash script from the binary completes profile names through the binary.
func TestProfileCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	env, _ := configDir(t, "[profile.build]\nmemory = \"4G\"\n[profile.offline]\nuid = 0\n")
	prog := `source <("$BIN" completion bash) && COMP_WORDS=("$BIN" --profile "") COMP_CWORD=2 && _sandbox && echo "${COMPREPLY[*]}"
COMP_WORDS=("$BIN" co) COMP_CWORD=1 && _sandbox && echo "${COMPREPLY[*]}"`
	cmd := exec.Command("bash", "--norc", "-c", prog)
	cmd.Env = append(append(os.Environ(), env...), "BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "build offline\ncommit completion\n" {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
}
