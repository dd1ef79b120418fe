package layers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Under the kernel overlay a plain file ".wh.X" is a file, not the deletion
// of X (issue 22), and so are fuse-overlayfs's opaque markers: the command
// may make them there.
func TestDiffKernelIgnoresFuseMarkers(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("x"), "x", 0o644)
	write(t, f.h("d/keep"), "k", 0o644)
	write(t, f.u(".wh.x"), "", 0o644)
	write(t, f.u(".wh..."), "", 0o644)
	write(t, f.u("d/.wh..wh..opq"), "", 0o644)
	setXattr(t, f.u("d"), "user.fuseoverlayfs.opaque")
	if s, want := summary(f.diff()), "A .wh...\nA .wh.x\nA d/.wh..wh..opq"; s != want {
		t.Fatalf("Diff:\n%s\nwant:\n%s", s, want)
	}
}

// Under fuse-overlayfs the command may set user.overlay.opaque; it is not
// the engine's marker, so it deletes nothing.
func TestDiffFuseIgnoresKernelOpaque(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("d/keep"), "k", 0o644)
	write(t, f.u("d/new"), "n", 0o644)
	setXattr(t, f.u("d"), "user.overlay.opaque")
	if s := summary(f.diff()); s != "A d/new" {
		t.Fatalf("Diff = %q, want only the addition", s)
	}
	if _, err := f.sb.Commit(CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(f.h("d/keep")); err != nil {
		t.Fatalf("commit deleted a host entry: %v", err)
	}
}

// A whiteout that names "." or ".." would delete the directory or its
// parent: refused, and nothing outside the layer is listed.
func TestDiffRefusesClimbingWhiteouts(t *testing.T) {
	for _, name := range []string{".wh...", ".wh..", ".wh."} {
		f := newFuseFixture(t)
		write(t, f.u("sub/"+name), "", 0o644)
		ch, err := f.sb.Diff()
		if name == ".wh." {
			if err == nil {
				t.Errorf("%s: Diff = %v, want a refusal", name, summary(ch))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "refusing whiteout") {
			t.Errorf("%s: Diff = %v, %v; want a refusal", name, summary(ch), err)
		}
		if _, err := f.sb.Commit(CommitOptions{}); err == nil {
			t.Errorf("%s: commit went ahead", name)
		}
	}
}

func TestDifferPathStaysBelow(t *testing.T) {
	d := newDiffer(&Layer{HostPath: "/srv/tree"})
	for _, rel := range []string{"..", "../x", "a/../../x", "/abs", ".", "a/./b", "a//b"} {
		if p, err := d.path(rel); err == nil {
			t.Errorf("path(%q) = %q, want a refusal", rel, p)
		}
	}
	if p, err := d.path("a/b"); err != nil || p != "/srv/tree/a/b" {
		t.Errorf("path(a/b) = %q, %v", p, err)
	}
}

func TestChangeLineQuotesAndMarks(t *testing.T) {
	c := Change{Kind: 'A', Path: "/h/.hook\x1b[1A\x1b[2K", Mode: 0o4777 | 0}
	c.Mode = 0o777 | os.ModeSetuid
	got := c.Line()
	if strings.ContainsRune(got, 0x1b) {
		t.Fatalf("Line printed a raw ESC: %q", got)
	}
	if want := `A "/h/.hook\x1b[1A\x1b[2K"  [setuid -rwsrwxrwx]`; got != want {
		t.Fatalf("Line = %s, want %s", got, want)
	}
}

// A tree deeper than PATH_MAX is listed, and a commit that cannot reach it
// fails with a short error line.
func TestDiffDeeperThanPathMax(t *testing.T) {
	f := newFixture(t)
	comp := strings.Repeat("d", 200)
	fd, err := unix.Open(f.upper, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	depth := 25 // 25 × 201 bytes > 4096
	for range depth {
		if err := unix.Mkdirat(fd, comp, 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, comp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = nfd
	}
	wfd, err := unix.Openat(fd, "leaf", unix.O_WRONLY|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(wfd)
	unix.Close(fd)
	t.Cleanup(func() { _ = removeTree(filepath.Join(f.upper, comp)) })
	ch := f.diff()
	if len(ch) != depth+1 || !strings.HasSuffix(ch[len(ch)-1].Rel, "/leaf") {
		t.Fatalf("Diff listed %d changes, want %d ending in leaf", len(ch), depth+1)
	}
	_, err = f.sb.Commit(CommitOptions{})
	if err == nil {
		t.Skip("this kernel committed a tree deeper than PATH_MAX")
	}
	if len(err.Error()) > 600 {
		t.Fatalf("commit error is %d bytes long: %.200s...", len(err.Error()), err)
	}
}

// What a commit killed halfway left (a temporary it noted) goes at the next
// commit; a file that merely looks like one stays.
func TestCommitRemovesKilledCommitsTemporaries(t *testing.T) {
	f := newFixture(t)
	f.begin()
	left := tempPrefix + "00112233aabbccdd"
	mine := tempPrefix + "ffeeddccbbaa9988"
	write(t, f.h(left), "half", 0o600)
	mkdir(t, f.h(left+"-dir-unused"), 0o755)
	write(t, f.h(mine), "user's own", 0o600)
	mkdir(t, f.h("aside"), 0o755)
	write(t, f.h("aside/"+left), "", 0o600)
	if err := os.WriteFile(filepath.Join(f.sb.Dir, journalFile),
		[]byte(f.host+"\x00"+left+"\x00"+f.h("aside")+"\x00"+left+"\x00"+f.h("gone")+"\x00"+left+"\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, f.u("new"), "n", 0o644)
	if _, err := f.sb.Commit(CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.h(left), f.h("aside/" + left)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	if readFile(t, f.h(mine)) != "user's own" {
		t.Errorf("a file not in the journal was touched")
	}
	if b, _ := os.ReadFile(filepath.Join(f.sb.Dir, journalFile)); len(b) != 0 {
		t.Errorf("journal not emptied after a commit: %q", b)
	}
}

// The store never follows a symlink below its root (issue 13, W2).
func TestStoreRefusesSymlinks(t *testing.T) {
	root := t.TempDir()
	s := Store{Root: filepath.Join(root, "store")}
	elsewhere := filepath.Join(root, "elsewhere")
	mkdir(t, elsewhere, 0o755)
	mkdir(t, s.Root, 0o700)
	symlink(t, elsewhere, filepath.Join(s.Root, "x"))
	empty := func(what string) {
		t.Helper()
		if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
			t.Fatalf("%s: made %v in the symlink's target", what, ents)
		}
	}
	var se *SymlinkError
	if err := s.Remove("x"); !errors.As(err, &se) {
		t.Errorf("Remove through a symlink: %v", err)
	}
	empty("Remove")
	if _, err := os.Lstat(filepath.Join(s.Root, "x")); err != nil {
		t.Errorf("Remove removed the symlink: %v", err)
	}
	if _, err := s.Open("x"); !errors.As(err, &se) {
		t.Errorf("Open through a symlink: %v", err)
	}
	empty("Open")
	if infos, err := s.List(); err != nil || len(infos) != 0 {
		t.Errorf("List = %v, %v; want the symlink left out", infos, err)
	}
	sb := &Sandbox{Name: "x", Dir: filepath.Join(s.Root, "x"), root: s.Root}
	if err := sb.Lock(false); !errors.As(err, &se) {
		t.Errorf("Lock through a symlink: %v", err)
	}
	empty("Lock")

	// Entries inside a real sandbox: the lock file, meta.json, the layers
	// directory.
	real, err := s.Open("r")
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(elsewhere, "victim")
	write(t, target, "victim", 0o600)
	for _, entry := range []string{lockFile, metaFile, layersDir} {
		p := filepath.Join(real.Dir, entry)
		_ = os.RemoveAll(p)
		symlink(t, target, p)
		var err error
		switch entry {
		case lockFile:
			err = real.Lock(false)
		case metaFile:
			_, err = real.Meta()
		case layersDir:
			_, err = real.Layers()
		}
		if !errors.As(err, &se) {
			t.Errorf("%s as a symlink: %v", entry, err)
		}
		if readFile(t, target) != "victim" {
			t.Errorf("%s: the symlink's target changed", entry)
		}
		os.Remove(p)
	}

	// The pool of ephemeral slots.
	symlink(t, elsewhere, filepath.Join(s.Root, ephemeralDir))
	if sb, err := s.Ephemeral(); !errors.As(err, &se) {
		t.Errorf("Ephemeral through a symlinked %s: %v", ephemeralDir, err)
		if sb != nil {
			_ = sb.Release()
		}
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 1 {
		t.Errorf("Ephemeral made %v in the symlink's target", ents)
	}
}
