package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14: the current directory is bound writable when it is a project,
// with .git/hooks and .git/config read-only; git itself keeps working.

func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed on the host: %v", err)
	}
	d := workdir(t)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"},
	} {
		git(t, d, args...)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, d, "add", "f")
	git(t, d, "commit", "-qm", "init")
	return d
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGitWorksInBoundCheckout(t *testing.T) {
	d := gitRepo(t)
	r := sandbox(t, d, nil, "--", "sh", "-ec", `
echo b >> f; echo new > g
git add f g
git commit -qm second
git checkout -q -b topic
echo c >> f
git stash -q
git stash list | grep -q WIP
git checkout -q main
git status --porcelain`)
	if r.code != 0 {
		t.Fatalf("git inside: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if log := git(t, d, "log", "--format=%s", "main"); log != "second\ninit\n" {
		t.Errorf("host log = %q, want the commit made inside", log)
	}
	if br := git(t, d, "branch", "--format=%(refname:short)"); br != "main\ntopic\n" {
		t.Errorf("host branches = %q", br)
	}
	if st := git(t, d, "stash", "list"); !strings.Contains(st, "WIP on topic") {
		t.Errorf("host stash = %q", st)
	}
	if r.stderr != "" {
		t.Errorf("a project says nothing on stderr, got %q", r.stderr)
	}
}

// --rw of a protected path opens it on purpose (the profile key rw too).
func TestRWOpensProtectedPath(t *testing.T) {
	d := gitRepo(t)
	hook := filepath.Join(d, ".git", "hooks", "pre-commit")
	r := sandbox(t, d, nil, "--rw", ".git/hooks", "--", "sh", "-c", "echo '#!/bin/sh' > .git/hooks/pre-commit && git config core.fsmonitor x")
	if _, err := os.Stat(hook); err != nil {
		t.Errorf("--rw .git/hooks: the hook was not written: %v\nstderr: %s", err, r.stderr)
	}
	if r.code == 0 || strings.Contains(git(t, d, "config", "--list"), "fsmonitor") {
		t.Errorf("--rw .git/hooks opened .git/config too (exit %d)", r.code)
	}
	cfg := filepath.Join(workdir(t), "config.toml")
	// git config replaces the file by a rename, which a bind of the file
	// itself (a mount point) refuses: .git is the path to open.
	if err := os.WriteFile(cfg, []byte("[defaults]\nrw = [\".git\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = sandbox(t, d, []string{"SANDBOX_CONFIG=" + cfg}, "--", "git", "config", "core.fsmonitor", "false")
	if r.code != 0 || !strings.Contains(git(t, d, "config", "--list"), "core.fsmonitor=false") {
		t.Errorf("profile rw = [\".git\"] did not open .git/config: exit %d, stderr %s", r.code, r.stderr)
	}
}

// A directory below $HOME is a project: bound writable, no note.
func TestProjectBelowHomeIsWritable(t *testing.T) {
	d := workdir(t)
	r := sandbox(t, d, nil, "--", "sh", "-c", "echo x > out && mkdir sub && echo y > sub/z")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "sub", "z")); string(b) != "y\n" {
		t.Errorf("write in a project below $HOME did not reach the host")
	}
}

func TestVerboseListsProtected(t *testing.T) {
	d := gitRepo(t)
	r := sandbox(t, d, nil, "--verbose", "--", "true")
	var line string
	for _, l := range lines(r.stderr) {
		if strings.Contains(l, "msg=\"protected:") {
			line = l
		}
	}
	for _, want := range []string{filepath.Join(d, ".git", "hooks"), filepath.Join(d, ".git", "config")} {
		if !strings.Contains(line, want) {
			t.Errorf("--verbose does not list %s as protected: %q", want, line)
		}
	}
}
