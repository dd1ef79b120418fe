package layers

import (
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// expect sorts "K rel" lines by rel, as Diff sorts by path.
func expect(lines ...string) string {
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	return strings.Join(lines, "\n")
}

func TestDiff(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("keep.txt"), "k", 0o644)
	write(t, f.h("mod.txt"), "old", 0o644)
	write(t, f.h("del.txt"), "d", 0o644)
	write(t, f.h("deldir/sub/b"), "b", 0o644)
	write(t, f.h("opq/old1"), "1", 0o644)
	write(t, f.h("opq/old2"), "2", 0o644)
	mkdir(t, f.h("opq/olddir/deep"), 0o755)
	write(t, f.h("opq2/x"), "x", 0o644)
	mkdir(t, f.h("chmod"), 0o755)
	mkdir(t, f.h("same"), 0o755)
	write(t, f.h("same/old"), "o", 0o644)
	write(t, f.h("tcdir/f"), "f", 0o644)
	write(t, f.h("tcfile"), "f", 0o644)

	write(t, f.u("new.txt"), "new", 0o600)
	write(t, f.u("mod.txt"), "new content", 0o644)
	write(t, f.u(".wh.del.txt"), "", 0o600)
	write(t, f.u(".wh.deldir"), "", 0o600)
	write(t, f.u(".wh.never-existed"), "", 0o600)
	write(t, f.u("opq/new"), "n", 0o644)
	write(t, f.u("opq/old2"), "2!", 0o644)
	f.opaque("opq")
	write(t, f.u("opq2/.wh..wh..opq"), "", 0o600)
	write(t, f.u("opq2/y"), "y", 0o644)
	mkdir(t, f.u("chmod"), 0o700)
	write(t, f.u("same/new"), "n", 0o644)
	write(t, f.u("sp ace\nnl"), "s", 0o644)
	write(t, f.u("tcdir"), "now a file", 0o644)
	write(t, f.u("tcfile/g"), "g", 0o644)
	f.opaque("tcfile")
	symlink(t, "/etc", f.u("newlink"))
	if l, err := net.Listen("unix", f.u("sock")); err == nil {
		defer l.Close()
	}

	got := f.diff()
	want := expect(
		"A new.txt", "M mod.txt", "D del.txt", "D deldir",
		"A opq/new", "M opq/old2", "D opq/old1", "D opq/olddir",
		"A opq2/y", "D opq2/x",
		"M chmod", "A same/new", "A sp ace\nnl",
		"M tcdir", "M tcfile", "A tcfile/g", "A newlink",
	)
	if s := summary(got); s != want {
		t.Fatalf("Diff:\n%s\nwant:\n%s", s, want)
	}
	for _, c := range got {
		if c.Path != filepath.Join(f.host, c.Rel) || c.Layer.HostPath != f.host {
			t.Errorf("%c %s: Path %q, layer %q", c.Kind, c.Rel, c.Path, c.Layer.HostPath)
		}
		switch c.Rel {
		case "mod.txt":
			if c.Size != int64(len("new content")) {
				t.Errorf("mod.txt size %d", c.Size)
			}
		case "deldir":
			if !c.Mode.IsDir() {
				t.Errorf("deleted dir mode %v", c.Mode)
			}
		case "tcfile":
			if !c.Opaque || !c.Mode.IsDir() {
				t.Errorf("tcfile: %+v", c)
			}
		}
	}
	a, m, d, n := Stat(got)
	if a != 7 || m != 5 || d != 5 || n != int64(len("new"+"new content"+"n"+"2!"+"y"+"n"+"s"+"now a file"+"g")) {
		t.Fatalf("Stat = %d %d %d %d", a, m, d, n)
	}
}

func TestDiffChardevWhiteout(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("gone"), "x", 0o644)
	write(t, f.h("gonedir/x"), "x", 0o644)
	mkWhiteout(t, f.u("gone"))
	mkWhiteout(t, f.u("gonedir"))
	mkWhiteout(t, f.u("never"))
	if s := summary(f.diff()); s != "D gone\nD gonedir" {
		t.Fatalf("Diff = %q", s)
	}
}

func TestDiffDoesNotFollowHostSymlinks(t *testing.T) {
	f := newFixture(t)
	write(t, f.out+"/x", "outside", 0o644)
	symlink(t, f.out, f.h("link"))
	write(t, f.u("link/x"), "in", 0o644)
	// link/x exists through the symlink, but is not the lower of link/x.
	if s := summary(f.diff()); s != "M link\nA link/x" {
		t.Fatalf("Diff = %q", s)
	}
}

func TestDiffEmptyAndMissingLayers(t *testing.T) {
	f := newFixture(t)
	if ch := f.diff(); len(ch) != 0 {
		t.Fatalf("empty upper: %v", ch)
	}
	if err := os.MkdirAll(filepath.Join(f.sb.Dir, "layers", "%2Fhalf-made"), 0o700); err != nil {
		t.Fatal(err)
	}
	if ch := f.diff(); len(ch) != 0 {
		t.Fatalf("with a layer without path file: %v", ch)
	}
}

// The fallback for kernels that refuse unprivileged whiteouts (before 5.8).
func TestWhiteoutFromUserNS(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wh")
	if err := mkWhiteoutInUserNS(p); err != nil {
		skipOrFail(t, "requires a user namespace: %v", err)
	}
	info, err := os.Lstat(p)
	if err != nil || !isWhiteout(info) {
		t.Fatalf("not a whiteout: %v %v", info.Mode(), err)
	}
}

// fuse-overlayfs marks opaque directories with its own xattr when trusted.*
// is refused (besides the marker file, which it may fail to create).
func TestDiffFuseOverlayfsOpaqueXattr(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("d/old"), "o", 0o644)
	write(t, f.u("d/new"), "n", 0o644)
	if err := unix.Setxattr(f.u("d"), "user.fuseoverlayfs.opaque", []byte("y"), 0); err != nil {
		skipOrFail(t, "user xattrs unsupported here: %v", err)
	}
	if s := summary(f.diff()); s != "A d/new\nD d/old" {
		t.Fatalf("Diff = %q", s)
	}
}

// diff -p: text files as a unified diff, anything else by its line, and a
// file whose content could rewrite the terminal only named.
func TestPatch(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("mod"), "one\ntwo\nthree\n", 0o644)
	write(t, f.h("gone"), "bye\n", 0o644)
	write(t, f.h("chmod"), "same\n", 0o644)
	write(t, f.h("esc"), "fine\n", 0o644)
	f.begin()
	write(t, f.u("mod"), "one\n2\nthree\n", 0o644)
	write(t, f.u("new"), "hello\n", 0o644)
	mkWhiteout(t, f.u("gone"))
	write(t, f.u("chmod"), "same\n", 0o755)
	write(t, f.u("esc"), "fine\n\x1b[1A\x1b[2Khidden\n", 0o644)
	mkdir(t, f.u("dir"), 0o755)
	var out strings.Builder
	for _, c := range f.diff() {
		if err := c.Patch(&out); err != nil {
			t.Fatal(err)
		}
	}
	h := f.h("")
	want := "M " + h + "/chmod: mode -rw-r--r-- -> -rwxr-xr-x\n" +
		"A " + h + "/dir\n" +
		"M " + h + "/esc: not shown: not plain text\n" +
		"--- a" + h + "/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" +
		"--- a" + h + "/mod\n+++ b" + h + "/mod\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n" +
		"--- /dev/null\n+++ b" + h + "/new\n@@ -0,0 +1 @@\n+hello\n"
	if out.String() != want {
		t.Fatalf("patch:\n%s\nwant:\n%s", out.String(), want)
	}
}
