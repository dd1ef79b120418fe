package escape

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

// reviewName is a fresh sandbox name, removed when the test ends.
func reviewName(t *testing.T) string {
	t.Helper()
	name := "escape-review-" + token()
	t.Cleanup(func() { sandbox(t, "rm", name) })
	return name
}

// raw reports a byte or character of s that a terminal acts on: C0 (but
// newline), DEL, C1, invalid UTF-8, bidi and format characters.
func raw(s string) (string, bool) {
	for i, r := range s {
		switch {
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == utf8.RuneError,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return s[max(0, i-20):min(len(s), i+20)], true
		}
	}
	return "", false
}

// `sandbox diff` must not be made to lie (issue 13, E3): a name with ESC[1A
// ESC[2K would erase the line above it on a terminal, hiding an added
// .hook that commit then applies. Every listing quotes such names.
func TestReviewQuotesNames(t *testing.T) {
	requires(t, UserNS)
	name := reviewName(t)
	cwd := workdir(t)
	script := `touch .hook "$(printf '.hook\033[1A\033[2K')" "$(printf 'c1-\302\233-csi')" "$(printf 'bidi-\342\200\256txt.exe')" "$(printf 'bad-\377-utf8')" "$(printf 'lrm-\342\200\216')"`
	r := run{dir: cwd}.sandbox(t, "--cow", "--name", name, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	for _, args := range [][]string{{"diff", name}, {"diff", "--stat", name}, {"commit", "--dry-run", name}, {"ls"}} {
		r := run{dir: cwd}.sandbox(t, args...)
		if r.code != 0 {
			t.Fatalf("%q: %s", args, r)
		}
		for _, out := range []string{r.stdout, r.stderr} {
			if ctx, bad := raw(out); bad {
				t.Errorf("%q printed a raw control, bidi or invalid character near %q:\n%q", args, ctx, out)
			}
		}
		if args[0] == "diff" && len(args) == 2 && (!strings.Contains(r.stdout, `.hook\x1b[1A\x1b[2K"`) || !strings.Contains(r.stdout, `\u202e`)) {
			t.Errorf("diff does not show the escaped names:\n%s", r.stdout)
		}
	}
}

// The store never follows a symlink (issue 13, W2): `ln -s SOMEDIR
// ~/.local/share/sandbox/x; sandbox rm x` made its lock file in SOMEDIR.
func TestStoreSymlinkRefused(t *testing.T) {
	requires(t, UserNS)
	data := workdir(t)
	env := []string{"XDG_DATA_HOME=" + data}
	store := filepath.Join(data, "sandbox")
	somedir := workdir(t)
	writeFile(t, filepath.Join(somedir, "keep"), "keep\n", 0o644)
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(somedir, filepath.Join(store, "x")); err != nil {
		t.Fatal(err)
	}
	guard(t, somedir)
	for _, args := range [][]string{{"rm", "x"}, {"diff", "x"}, {"commit", "x"}, {"--name", "x", "--", "true"}} {
		r := run{env: env}.sandbox(t, args...)
		if r.code != 125 || !strings.Contains(r.stderr, "symlink") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%q through a symlink: want 125 and one line naming the symlink: %s", args, r)
		}
	}
	if fi, err := os.Lstat(filepath.Join(store, "x")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink itself was removed or replaced: %v", err)
	}
	// Slots of unnamed runs: a symlinked .ephemeral is refused too.
	if err := os.Symlink(somedir, filepath.Join(store, ".ephemeral")); err != nil {
		t.Fatal(err)
	}
	// --uid 0 keeps its layers on disk (fuse-overlayfs); a plain run keeps
	// them in memory where the kernel allows, and may then start, but
	// makes nothing through the link either way.
	if r := (run{env: env}).sandbox(t, "--uid", "0", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("a --uid 0 run with a symlinked .ephemeral: %s", r)
	}
	if r := (run{env: env}).sandbox(t, "--", "true"); r.code != 0 && (r.code != 125 || !strings.Contains(r.stderr, "symlink")) {
		t.Errorf("a run with a symlinked .ephemeral: %s", r)
	}
	if ents, _ := os.ReadDir(somedir); len(ents) != 1 {
		t.Errorf("something was made through the symlinked .ephemeral in %s: %d entries", somedir, len(ents))
	}
}

// What diff lists and commit applies is what the command saw (issue 22):
// under the kernel overlay a plain file ".wh.X" is a file (X stays), and
// ".wh..." is no whiteout of the parent directory; a setuid file is marked
// by diff and committed without setuid.
func TestReviewWhiteoutsAndSetuid(t *testing.T) {
	requires(t, UserNS)
	name := reviewName(t)
	parent := workdir(t)
	cwd := filepath.Join(parent, "tree")
	writeFile(t, filepath.Join(cwd, "victim"), "victim\n", 0o644)
	writeFile(t, filepath.Join(parent, "sibling"), "sibling\n", 0o644)
	script := `ls victim >/dev/null && touch .wh.victim .wh... && echo x > s && chmod 4777 s && ls victim`
	r := run{dir: cwd}.sandbox(t, "--cow", "--name", name, "--", "sh", "-c", script)
	if r.code != 0 || !strings.Contains(r.stdout, "victim") {
		t.Fatalf("run (victim must still be there inside): %s", r)
	}
	d := run{dir: cwd}.sandbox(t, "diff", name)
	if d.code != 0 {
		t.Fatalf("diff: %s", d)
	}
	for _, l := range strings.Split(strings.TrimSpace(d.stdout), "\n") {
		if strings.HasPrefix(l, "D ") {
			t.Errorf("diff lists a deletion the command never made: %q\n%s", l, d.stdout)
		}
	}
	if !strings.Contains(d.stdout, "A "+filepath.Join(cwd, ".wh...")+"\n") || !strings.Contains(d.stdout, "[setuid -rwsrwxrwx]") {
		t.Errorf("diff lacks the plain .wh... file or the setuid mark:\n%s", d.stdout)
	}
	c := run{dir: cwd}.sandbox(t, "commit", name)
	if c.code != 0 || !strings.Contains(c.stdout, "dropped") {
		t.Fatalf("commit (want it to say setuid is dropped): %s", c)
	}
	for _, p := range []string{filepath.Join(cwd, "victim"), filepath.Join(parent, "sibling")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("commit deleted %s: %v", p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(cwd, "s")); err != nil || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("committed s: %v %v, want no setuid", fi.Mode(), err)
	}
}

// Under fuse-overlayfs root inside may set user.overlay.opaque, which the
// engine passes through: diff and commit must not then delete the host's
// entries of that directory, which the command's view still showed.
func TestReviewFuseForgedOpaque(t *testing.T) {
	requires(t, UserNS, SubIDs, Fuse)
	name := reviewName(t)
	cwd := workdir(t)
	writeFile(t, filepath.Join(cwd, "d", "keep"), "keep\n", 0o644)
	script := `python3 -c 'import os; os.setxattr("d", "user.overlay.opaque", b"y")' && touch d/new && ls d`
	r := run{dir: cwd}.sandbox(t, "--overlay", "fuse", "--uid", "0", "--cow", "--name", name, "--", "sh", "-c", script)
	if r.code != 0 || !strings.Contains(r.stdout, "keep") {
		t.Fatalf("run (keep must show inside): %s", r)
	}
	d := run{dir: cwd}.sandbox(t, "diff", name)
	if d.code != 0 || strings.Contains(d.stdout, "D ") || !strings.Contains(d.stdout, filepath.Join(cwd, "d", "new")) {
		t.Fatalf("diff: want only the new file, no deletion: %s", d)
	}
	if c := (run{dir: cwd}).sandbox(t, "commit", name, filepath.Join(cwd, "d")); c.code != 0 {
		t.Fatalf("commit: %s", c)
	}
	if _, err := os.Stat(filepath.Join(cwd, "d", "keep")); err != nil {
		t.Errorf("commit deleted a host entry through a forged opaque xattr: %v", err)
	}
}

// A tree deeper than PATH_MAX: diff lists it, and a commit that cannot
// reach it says so in one short line (not a 4 KB one).
func TestReviewDeepTree(t *testing.T) {
	requires(t, UserNS)
	name := reviewName(t)
	cwd := workdir(t)
	comp := strings.Repeat("d", 200)
	// python3, not sh: dash refuses to cd past PATH_MAX.
	script := "import os\nfor _ in range(25):\n    os.mkdir('" + comp + "'); os.chdir('" + comp + "')\nopen('leaf', 'w').close()"
	if r := (run{dir: cwd}).sandbox(t, "--cow", "--name", name, "--", "python3", "-c", script); r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	d := run{dir: cwd}.sandbox(t, "diff", name)
	if d.code != 0 || !strings.Contains(d.stdout, "/leaf\n") {
		t.Fatalf("diff of a deep tree: exit %d, stderr %q", d.code, d.stderr)
	}
	c := run{dir: cwd}.sandbox(t, "commit", name)
	if c.code != 0 && len(c.stderr) > 600 {
		t.Errorf("commit error is %d bytes", len(c.stderr))
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(cwd, comp)) })
}

// A command name that is not found is printed escaped: it may come from an
// image's Entrypoint, and ESC ] 0 ; would retitle the terminal, ESC [ 2 K
// erase what sandbox said before it.
func TestNotFoundNameQuoted(t *testing.T) {
	requires(t, UserNS)
	for _, name := range []string{"x\x1b]0;pwned\x07", "y\x1b[1A\x1b[2K", "bidi-\u202etxt", "bad-\xff"} {
		r := run{}.sandbox(t, "--", name)
		if r.code != 127 || !strings.Contains(r.stderr, "command not found") {
			t.Fatalf("%q: want 127, command not found: %s", name, r)
		}
		if ctx, bad := raw(r.stderr); bad {
			t.Errorf("%q printed a raw control, bidi or invalid character near %q:\n%q", name, ctx, r.stderr)
		}
	}
}

// A named sandbox's --rootfs mark (layers' "root" file), like the layer's
// other small files, is read without following a symlink or waiting on a
// FIFO: one planted in the store is refused in one line, and nothing is made
// through it.
func TestRootMarkPlantedRefused(t *testing.T) {
	requires(t, UserNS)
	data := workdir(t)
	env := []string{"XDG_DATA_HOME=" + data}
	name := "mark-" + token()
	if r := (run{env: env}).sandbox(t, "--name", name, "--", "true"); r.code != 0 {
		t.Fatalf("named run: %s", r)
	}
	layer := filepath.Join(data, "sandbox", name, "layers", "%2Fetc")
	if _, err := os.Stat(filepath.Join(layer, "upper")); err != nil {
		t.Fatalf("no layer for /etc where the store keeps it: %v", err)
	}
	somedir := workdir(t)
	target := filepath.Join(somedir, "target")
	writeFile(t, target, "keep\n", 0o644)
	guard(t, somedir)
	mark := filepath.Join(layer, "root")
	for _, plant := range []struct {
		kind string
		make func() error
		says string
	}{
		{"symlink", func() error { return os.Symlink(target, mark) }, "symlink"},
		{"fifo", func() error { return syscall.Mkfifo(mark, 0o600) }, "not a regular file"},
	} {
		if err := plant.make(); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--name", name, "--", "true"}, {"diff", name}} {
			r := run{env: env}.sandbox(t, args...) // at most 20 s: a FIFO opened for reading would hang
			if r.code != 125 || !strings.Contains(r.stderr, plant.says) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("%s as the mark, %q: want 125 and one line saying %q: %s", plant.kind, args, plant.says, r)
			}
		}
		if err := os.Remove(mark); err != nil {
			t.Fatal(err)
		}
	}
	// The layer's other small files, read the same way: a FIFO in the place
	// of one is refused, not waited on.
	for _, f := range []string{"engine", "path"} {
		p := filepath.Join(layer, f)
		keep, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		r := run{env: env}.sandbox(t, "diff", name)
		if r.code != 125 || !strings.Contains(r.stderr, "not a regular file") {
			t.Errorf("a FIFO as the layer's %s file: want 125, not a regular file: %s", f, r)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, string(keep), 0o600)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep\n" {
		t.Errorf("the symlink's target changed: %q, %v", b, err)
	}
	if r := (run{env: env}).sandbox(t, "rm", name); r.code != 0 {
		t.Errorf("rm after the plants are gone: %s", r)
	}
}
