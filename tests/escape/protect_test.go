package escape

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Issue 14: nothing the command writes may run later outside the sandbox.
// The runs that need a home use a fresh one (HOME=a work directory): the
// test user's own start-up files are never at stake.

// treeHash hashes every name, link and file content under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += " " + hex.EncodeToString(s[:])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", dir, err)
	}
	sort.Strings(lines)
	s := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(s[:])
}

// fakeHome makes a home with start-up files, a sandbox config and a link.
func fakeHome(t *testing.T) string {
	t.Helper()
	h := workdir(t)
	writeFile(t, filepath.Join(h, ".bashrc"), "# bashrc\n", 0o644)
	writeFile(t, filepath.Join(h, ".config", "sandbox", "config.toml"), "[defaults]\n", 0o644)
	writeFile(t, filepath.Join(h, "dotfiles", "profile"), "# profile\n", 0o644)
	if err := os.Symlink("dotfiles/profile", filepath.Join(h, ".profile")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(h, "somedir", "keep"), "keep\n", 0o644)
	return h
}

// homeEnv makes h the home of a run; the store of layers stays where the
// suite's other runs keep it.
func homeEnv(h string) []string {
	return []string{"HOME=" + h, "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share")}
}

// The attempts of the issue, from the home directory.
const plantHome = `
echo evil >> ~/.bashrc
printf '[defaults]\nseccomp = "unconfined"\n' > ~/.config/sandbox/config.toml
mkdir -p ~/.ssh && echo 'ssh-ed25519 AAAA planted' >> ~/.ssh/authorized_keys
rm -rf ~/somedir
true`

func TestProtectHomeIsCopyOnWrite(t *testing.T) {
	h := fakeHome(t)
	before := treeHash(t, h)
	r := run{dir: h, env: homeEnv(h)}.sandbox(t, "--quiet", "--", "sh", "-c", plantHome)
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	if !strings.Contains(r.stderr, "copy-on-write") || !strings.Contains(r.stderr, "--rw .") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("want one stderr line saying the home is copy-on-write and naming --rw .: %s", r)
	}
	if after := treeHash(t, h); after != before {
		t.Errorf("the home changed on the host")
	}
	if _, err := os.Lstat(filepath.Join(h, ".ssh")); err == nil {
		t.Errorf("~/.ssh was planted on the host")
	}

	// The real home of the test user: the same note, nothing reaches it
	// (a harmless name, so a failure cannot damage the user's files).
	probe := filepath.Join(home, ".sandbox-protect-probe-"+token())
	r = run{dir: home}.sandbox(t, "--", "sh", "-c", "echo x > "+probe)
	if _, err := os.Lstat(probe); err == nil {
		os.Remove(probe)
		t.Errorf("a write in $HOME reached the host: %s", r)
	}
	if !strings.Contains(r.stderr, "copy-on-write") {
		t.Errorf("no note for $HOME: %s", r)
	}
}

// With --rw . the home is writable on purpose, but what runs later is not.
func TestProtectHomeRWStartupFiles(t *testing.T) {
	h := fakeHome(t)
	ssh := filepath.Join(h, ".ssh")
	hashes := map[string]string{}
	for _, p := range []string{".bashrc", ".config/sandbox/config.toml", "dotfiles/profile"} {
		b, _ := os.ReadFile(filepath.Join(h, p))
		hashes[p] = string(b)
	}
	r := run{dir: h, env: homeEnv(h)}.sandbox(t, "--rw", ".", "--", "sh", "-c", `
echo ok > notes.txt
echo evil >> ~/.bashrc || echo BASHRC-REFUSED
echo evil > ~/.config/sandbox/config.toml || echo CONFIG-REFUSED
mv ~/.config ~/.config2 2>/dev/null || echo RENAME-REFUSED
rm -f ~/.profile 2>/dev/null; [ -L ~/.profile ] && echo LINK-KEPT
echo evil >> ~/.profile || echo PROFILE-REFUSED
echo evil > ~/.zshrc
mkdir -p ~/.ssh && echo planted >> ~/.ssh/authorized_keys
mkdir -p ~/.config/autostart && echo planted > ~/.config/autostart/x.desktop
sleep 0.2
true`)
	for _, want := range []string{"BASHRC-REFUSED", "CONFIG-REFUSED", "RENAME-REFUSED", "LINK-KEPT", "PROFILE-REFUSED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %s: %s", want, r)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(h, "notes.txt")); string(b) != "ok\n" {
		t.Errorf("--rw . did not give write access to the home: %s", r)
	}
	for p, was := range hashes {
		if b, _ := os.ReadFile(filepath.Join(h, p)); string(b) != was {
			t.Errorf("%s changed on the host", p)
		}
	}
	for _, p := range []string{".zshrc", ".ssh", ".config/autostart"} {
		if _, err := os.Lstat(filepath.Join(h, p)); err == nil {
			t.Errorf("%s was created on the host: %s", p, r)
		}
	}
	if _, err := os.Lstat(ssh + ".sandbox-blocked-1"); err != nil || !strings.Contains(r.stderr, ssh+", a protected path") {
		t.Errorf("the planted ~/.ssh was not moved aside with a note: %s", r)
	}
}

// gitRepo makes a repository with one commit in a fresh work directory.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed on the host: %v", err)
	}
	d := workdir(t)
	gitIn(t, d, "init", "-q", "-b", "main")
	gitIn(t, d, "config", "user.email", "t@example.com")
	gitIn(t, d, "config", "user.name", "t")
	writeFile(t, filepath.Join(d, "f"), "a\n", 0o644)
	gitIn(t, d, "add", "f")
	gitIn(t, d, "commit", "-qm", "init")
	return d
}

func gitIn(t *testing.T, dir string, args ...string) string {
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

func TestProtectGitHooksAndConfig(t *testing.T) {
	d := gitRepo(t)
	git := filepath.Join(d, ".git")
	before := treeHash(t, filepath.Join(git, "hooks")) + treeHash(t, filepath.Join(git, "config"))
	r := run{dir: d}.sandbox(t, "--", "sh", "-c", `
printf '#!/bin/sh\necho pwned\n' > .git/hooks/pre-commit || echo HOOK-REFUSED
git config core.fsmonitor x || echo FSMONITOR-REFUSED
git config core.hooksPath x || echo HOOKSPATH-REFUSED
mv .git .git-old 2>/dev/null || echo MOVE-REFUSED
mv .git/hooks .git/hooks-old 2>/dev/null || echo MOVE-HOOKS-REFUSED
echo 'gitdir: /elsewhere' > .git/commondir
echo b >> f && git -c user.email=t@example.com -c user.name=t commit -qam x && echo COMMITTED
sleep 0.2
true`)
	for _, want := range []string{"HOOK-REFUSED", "FSMONITOR-REFUSED", "HOOKSPATH-REFUSED", "MOVE-REFUSED", "MOVE-HOOKS-REFUSED", "COMMITTED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %s: %s", want, r)
		}
	}
	if after := treeHash(t, filepath.Join(git, "hooks")) + treeHash(t, filepath.Join(git, "config")); after != before {
		t.Errorf(".git/hooks or .git/config changed on the host")
	}
	if _, err := os.Lstat(filepath.Join(git, "commondir")); err == nil {
		t.Errorf("a planted .git/commondir stayed on the host: %s", r)
	}
	if log := gitIn(t, d, "log", "--format=%s"); !strings.HasPrefix(log, "x\n") {
		t.Errorf("the commit made inside did not land on the host: %q", log)
	}
}

// git init in a directory that is not a repository plants hooks the user
// would run later: the .git it makes is moved aside.
func TestProtectGitInitPlant(t *testing.T) {
	d := workdir(t)
	r := run{dir: d}.sandbox(t, "--", "sh", "-c", `
git init -q . 2>/dev/null
mkdir -p .git/hooks 2>/dev/null && printf '#!/bin/sh\necho pwned\n' > .git/hooks/pre-commit
sleep 0.2
true`)
	if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
		t.Errorf("a .git made inside stayed on the host: %s", r)
	}
	if !strings.Contains(r.stderr, filepath.Join(d, ".git")+", a protected path") || !strings.Contains(r.stderr, "--rw "+filepath.Join(d, ".git")) {
		t.Errorf("no note naming the moved .git and --rw: %s", r)
	}
}

func TestProtectSubmoduleHooks(t *testing.T) {
	sub := gitRepo(t)
	d := gitRepo(t)
	gitIn(t, d, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "sub")
	mod := filepath.Join(d, ".git", "modules", "sub")
	before := treeHash(t, filepath.Join(mod, "hooks")) + treeHash(t, filepath.Join(mod, "config"))
	r := run{dir: d}.sandbox(t, "--", "sh", "-c", `
printf '#!/bin/sh\necho pwned\n' > .git/modules/sub/hooks/post-checkout || echo HOOK-REFUSED
echo '[core] fsmonitor = x' >> .git/modules/sub/config || echo CONFIG-REFUSED
mv .git/modules/sub .git/modules/sub-old 2>/dev/null || echo MOVE-REFUSED
true`)
	for _, want := range []string{"HOOK-REFUSED", "CONFIG-REFUSED", "MOVE-REFUSED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %s: %s", want, r)
		}
	}
	if after := treeHash(t, filepath.Join(mod, "hooks")) + treeHash(t, filepath.Join(mod, "config")); after != before {
		t.Errorf("the submodule's hooks or config changed on the host")
	}
}

// A worktree's .git file names its git directory; its commondir names the
// main repository's, whose hooks and config run for the worktree too.
func TestProtectWorktreeCommonDir(t *testing.T) {
	d := gitRepo(t)
	wt := filepath.Join(workdir(t), "wt")
	gitIn(t, d, "worktree", "add", "-q", wt)
	before := treeHash(t, filepath.Join(d, ".git", "hooks")) + treeHash(t, filepath.Join(d, ".git", "config"))
	dotgit, _ := os.ReadFile(filepath.Join(wt, ".git"))
	r := run{dir: wt}.sandbox(t, "--", "sh", "-c", `
common=$(git rev-parse --git-common-dir)
printf '#!/bin/sh\necho pwned\n' > "$common/hooks/pre-commit" || echo HOOK-REFUSED
git config core.fsmonitor x || echo CONFIG-REFUSED
echo 'gitdir: /elsewhere' > .git || echo GITFILE-REFUSED
echo b >> f && git -c user.email=t@example.com -c user.name=t commit -qam wt && echo COMMITTED
true`)
	for _, want := range []string{"HOOK-REFUSED", "CONFIG-REFUSED", "GITFILE-REFUSED", "COMMITTED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %s: %s", want, r)
		}
	}
	if after := treeHash(t, filepath.Join(d, ".git", "hooks")) + treeHash(t, filepath.Join(d, ".git", "config")); after != before {
		t.Errorf("the main repository's hooks or config changed on the host")
	}
	if b, _ := os.ReadFile(filepath.Join(wt, ".git")); string(b) != string(dotgit) {
		t.Errorf("the worktree's .git file changed on the host")
	}
	if log := gitIn(t, wt, "log", "--format=%s"); !strings.HasPrefix(log, "wt\n") {
		t.Errorf("the commit made in the worktree did not land on the host: %q", log)
	}
}
