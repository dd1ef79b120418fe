package layers

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var old = time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)

func chtimes(t *testing.T, p string, tm time.Time) {
	t.Helper()
	if err := os.Chtimes(p, tm, tm); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) commit(opt CommitOptions) ([]Change, string, error) {
	var out bytes.Buffer
	opt.Out = &out
	ch, err := f.sb.Commit(opt)
	return ch, out.String(), err
}

func TestCommitEachKind(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("mod.txt"), "old", 0o644)
	write(t, f.h("del.txt"), "d", 0o644)
	write(t, f.h("deldir/sub/b"), "b", 0o644)
	write(t, f.h("opq/old"), "1", 0o644)
	write(t, f.h("opq/keep"), "2", 0o644)
	mkdir(t, f.h("chmod"), 0o755)
	write(t, f.h("tcdir/f"), "f", 0o644)
	write(t, f.h("tcfile"), "f", 0o644)
	f.begin()

	write(t, f.u("new.txt"), "new", 0o640)
	chtimes(t, f.u("new.txt"), old)
	write(t, f.u("mod.txt"), "modified", 0o600)
	write(t, f.u(".wh.del.txt"), "", 0o600)
	write(t, f.u(".wh.deldir"), "", 0o600)
	write(t, f.u(".wh.never-existed"), "", 0o600)
	write(t, f.u("opq/keep"), "2", 0o644)
	write(t, f.u("opq/.wh..wh..opq"), "", 0o600)
	mkdir(t, f.u("chmod"), 0o700)
	write(t, f.u("rodir/inner/file"), "in a read-only dir", 0o444)
	mkdir(t, f.u("rodir/inner"), 0o555)
	mkdir(t, f.u("rodir"), 0o550)
	chtimes(t, f.u("rodir"), old)
	write(t, f.u("tcdir"), "file now", 0o644)
	write(t, f.u("tcfile/g"), "g", 0o644)
	f.opaque("tcfile")
	symlink(t, f.out+"/escape", f.u("link-out"))
	if err := os.Symlink("/nowhere", f.u("link-out-time")); err != nil {
		t.Fatal(err)
	}

	ch, out, err := f.commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != len(strings.Split(strings.TrimSpace(out), "\n")) || !strings.Contains(out, "A "+f.h("new.txt")+"\n") {
		t.Fatalf("log:\n%s", out)
	}
	want := strings.Join([]string{
		`"." drwxr-xr-x`,
		`"chmod" drwx------`,
		`"link-out" Lrwxrwxrwx -> ` + f.out + `/escape`,
		`"link-out-time" Lrwxrwxrwx -> /nowhere`,
		`"mod.txt" -rw------- "modified"`,
		`"new.txt" -rw-r----- "new"`,
		`"opq" drwxr-xr-x`,
		`"opq/keep" -rw-r--r-- "2"`,
		`"rodir" dr-xr-x---`,
		`"rodir/inner" dr-xr-xr-x`,
		`"rodir/inner/file" -r--r--r-- "in a read-only dir"`,
		`"tcdir" -rw-r--r-- "file now"`,
		`"tcfile" drwxr-xr-x`,
		`"tcfile/g" -rw-r--r-- "g"`,
	}, "\n")
	if got := tree(t, f.host); got != want {
		t.Fatalf("host after commit:\n%s\nwant:\n%s", got, want)
	}
	for _, p := range []string{"new.txt", "rodir"} {
		if info, err := os.Lstat(f.h(p)); err != nil || !info.ModTime().Equal(old) {
			t.Errorf("%s mtime = %v, want %v", p, info.ModTime(), old)
		}
	}
	if _, err := os.Lstat(f.out + "/escape"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a symlink was followed out: %v", err)
	}
	// Committed entries left the upper: nothing to diff, nothing pending.
	if ch := f.diff(); len(ch) != 0 {
		t.Fatalf("Diff after commit:\n%s", summary(ch))
	}
	if got := tree(t, f.upper); got != `"." drwxr-xr-x` {
		t.Fatalf("upper after commit:\n%s", got)
	}
	if m, _ := f.sb.Meta(); !m.Pending.IsZero() {
		t.Fatalf("Pending after a full commit = %v", m.Pending)
	}
	// Nothing stray next to targets.
	if ents, _ := os.ReadDir(f.host); len(ents) != 9 {
		t.Fatalf("host has %d entries", len(ents))
	}
}

func TestCommitChardevWhiteoutAndNames(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("a b\nc"), "old", 0o644)
	write(t, f.h("gone dir/x"), "x", 0o644)
	f.begin()
	mkWhiteout(t, f.u("a b\nc"))
	mkWhiteout(t, f.u("gone dir"))
	write(t, f.u("new\nline"), "nl", 0o644)
	_, out, err := f.commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, f.host); got != `"." drwxr-xr-x`+"\n"+`"new\nline" -rw-r--r-- "nl"` {
		t.Fatalf("host:\n%s", got)
	}
	if !strings.Contains(out, `A "`+f.h("")+`/new\nline"`) || strings.Count(out, "\n") != 3 {
		t.Fatalf("log lines must stay one per change:\n%s", out)
	}
}

func TestCommitPathsFilter(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("b/old"), "o", 0o644)
	f.begin()
	write(t, f.u("a/deep/er/file"), "1", 0o644)
	write(t, f.u("a/other"), "2", 0o644)
	write(t, f.u("b/new"), "3", 0o644)
	ch, _, err := f.commit(CommitOptions{Paths: []string{f.h("a/deep/er/file") + "/", f.h("b/new")}})
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(ch); s != "A a\nA a/deep\nA a/deep/er\nA a/deep/er/file\nA b/new" {
		t.Fatalf("committed:\n%s", s)
	}
	if _, err := os.Lstat(f.h("a/other")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unselected change committed: %v", err)
	}
	if s := summary(f.diff()); s != "A a/other" {
		t.Fatalf("Diff after a partial commit:\n%s", s)
	}
	if m, _ := f.sb.Meta(); m.Pending.IsZero() {
		t.Fatal("Pending cleared with changes left")
	}
	if _, _, err := f.commit(CommitOptions{Paths: []string{"relative"}}); err == nil {
		t.Fatal("relative path accepted")
	}
	// A path with no change under it (a typo) commits nothing, not even
	// the changes the other paths select, and says so.
	_, _, err = f.commit(CommitOptions{Paths: []string{f.h("a/other"), f.h("nosuch")}})
	if err == nil || !strings.Contains(err.Error(), "no change at or under "+f.h("nosuch")) {
		t.Fatalf("commit of a path without changes = %v", err)
	}
	if _, err := os.Lstat(f.h("a/other")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a commit that failed its check wrote %s: %v", f.h("a/other"), err)
	}
}

func TestCommitDryRun(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("mod"), "old", 0o644)
	write(t, f.h("del"), "d", 0o644)
	f.begin()
	write(t, f.u("mod"), "new", 0o644)
	write(t, f.u("add"), "a", 0o644)
	write(t, f.u(".wh.del"), "", 0o644)
	host, upper := tree(t, f.host), tree(t, f.upper)
	ch, out, err := f.commit(CommitOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "A " + f.h("add") + "\nD " + f.h("del") + "\nM " + f.h("mod") + "\n"; out != want || len(ch) != 3 {
		t.Fatalf("dry run printed:\n%s\nwant:\n%s", out, want)
	}
	if tree(t, f.host) != host || tree(t, f.upper) != upper {
		t.Fatal("dry run changed something")
	}
}

func TestCommitConflict(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("shared"), "base", 0o644)
	write(t, f.h("dir/inner"), "base", 0o644)
	write(t, f.h("quiet"), "base", 0o644)
	f.begin()
	write(t, f.u("shared"), "sandbox", 0o644)
	write(t, f.u(".wh.dir"), "", 0o644)
	write(t, f.u("quiet"), "sandbox", 0o644)
	write(t, f.u("added"), "sandbox", 0o644)
	// The host changes a file the sandbox changed, and one deep in a
	// directory the sandbox deleted.
	write(t, f.h("shared"), "host", 0o644)
	write(t, f.h("dir/inner"), "host", 0o644)
	host, upper := tree(t, f.host), tree(t, f.upper)

	_, _, err := f.commit(CommitOptions{})
	var ce *ConflictError
	if !errors.As(err, &ce) || strings.Join(ce.Paths, " ") != f.h("dir/inner")+" "+f.h("shared") {
		t.Fatalf("Commit = %v", err)
	}
	if tree(t, f.host) != host || tree(t, f.upper) != upper {
		t.Fatal("a failed commit changed something")
	}
	if _, _, err := f.commit(CommitOptions{DryRun: true}); !errors.As(err, &ce) {
		t.Fatalf("dry run hides the conflict: %v", err)
	}
	if _, _, err := f.commit(CommitOptions{Paths: []string{f.h("quiet")}}); err != nil {
		t.Fatalf("a commit of only unconflicted paths: %v", err)
	}
	if _, _, err := f.commit(CommitOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, f.host); got != `"." drwxr-xr-x`+"\n"+`"added" -rw-r--r-- "sandbox"`+"\n"+`"quiet" -rw-r--r-- "sandbox"`+"\n"+`"shared" -rw-r--r-- "sandbox"` {
		t.Fatalf("host after force:\n%s", got)
	}
}

// A host change between two runs is a conflict too: the copy may be older
// than the last run.
func TestCommitConflictFromEarlierRun(t *testing.T) {
	f := newFixture(t)
	write(t, f.h("f"), "base", 0o644)
	f.begin()
	write(t, f.u("f"), "sandbox", 0o644)
	time.Sleep(30 * time.Millisecond)
	write(t, f.h("f"), "host", 0o644)
	f.begin()
	var ce *ConflictError
	if _, _, err := f.commit(CommitOptions{}); !errors.As(err, &ce) {
		t.Fatalf("Commit = %v", err)
	}
}

func TestCommitNoConflictWhenHostUnchanged(t *testing.T) {
	f := newFuseFixture(t)
	write(t, f.h("f"), "base", 0o644)
	write(t, f.h("d/x"), "x", 0o644)
	f.begin()
	write(t, f.u("f"), "sandbox", 0o644)
	write(t, f.u(".wh.d"), "", 0o644)
	if _, _, err := f.commit(CommitOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCommitRefusesHostSymlink(t *testing.T) {
	f := newFixture(t)
	mkdir(t, f.h("t"), 0o755)
	symlink(t, f.out, f.h("t/link"))
	f.begin()
	write(t, f.u("t/link/x"), "planted", 0o644)
	write(t, f.u("t/ok"), "fine", 0o644)
	host := tree(t, f.host)
	for _, opt := range []CommitOptions{{}, {Force: true}, {Paths: []string{f.h("t/link/x")}}} {
		_, _, err := f.commit(opt)
		if err == nil || !strings.Contains(err.Error(), f.h("t/link")) || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("Commit(%+v) = %v", opt, err)
		}
		if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
			t.Fatalf("wrote outside: %v", ents)
		}
		if tree(t, f.host) != host {
			t.Fatal("a refused commit changed the host")
		}
	}
}

// An opaque upper directory over a host symlink is what the overlay makes of
// "rm link; mkdir link": the symlink is replaced, never written through.
func TestCommitReplacesSymlinkByOpaqueDir(t *testing.T) {
	f := newFixture(t)
	write(t, f.out+"/x", "outside", 0o644)
	symlink(t, f.out, f.h("p"))
	f.begin()
	write(t, f.u("p/x"), "sandbox", 0o644)
	f.opaque("p")
	if _, _, err := f.commit(CommitOptions{Paths: []string{f.h("p/x")}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f.out+"/x"); got != "outside" {
		t.Fatalf("outside file = %q", got)
	}
	if got := tree(t, f.h("p")); got != `"." drwxr-xr-x`+"\n"+`"x" -rw-r--r-- "sandbox"` {
		t.Fatalf("host p:\n%s", got)
	}
}

func TestCommitUnreadableUpperChangesNothing(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads anything")
	}
	f := newFixture(t)
	f.begin()
	write(t, f.u("a-first"), "a", 0o644)
	write(t, f.u("z-secret"), "s", 0o000)
	host := tree(t, f.host)
	if _, _, err := f.commit(CommitOptions{}); err == nil || !strings.Contains(err.Error(), f.h("z-secret")) {
		t.Fatalf("Commit = %v", err)
	}
	if tree(t, f.host) != host {
		t.Fatal("a failed commit changed the host")
	}
}

func TestCommitReadOnlyHostDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	f := newFixture(t)
	mkdir(t, f.h("ro"), 0o555)
	t.Cleanup(func() { _ = os.Chmod(f.h("ro"), 0o755) })
	f.begin()
	write(t, f.u("ro/new"), "x", 0o644)
	mkdir(t, f.u("ro"), 0o555)
	_, _, err := f.commit(CommitOptions{})
	if err == nil || !strings.Contains(err.Error(), f.h("ro")) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Commit = %v", err)
	}
}

func TestCommitNeedsLock(t *testing.T) {
	f := newFixture(t)
	other, err := f.store.Open("t")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Lock(false); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	var busy *BusyError
	if _, _, err := f.commit(CommitOptions{}); !errors.As(err, &busy) {
		t.Fatalf("Commit of a running sandbox = %v", err)
	}
	write(t, f.u("new"), "x", 0o644)
	if ch, _, err := f.commit(CommitOptions{DryRun: true}); err != nil || len(ch) != 1 {
		t.Fatalf("dry run of a running sandbox = %v, %v", ch, err)
	}
}

// Setuid and setgid are dropped by default (issue 22: chmod 4777 inside
// landed as a world-writable setuid program), and the line says so; with
// KeepSetuid, setuid to ourselves is kept, as the upper file is ours.
func TestCommitSetuid(t *testing.T) {
	for _, keep := range []bool{false, true} {
		f := newFixture(t)
		f.begin()
		write(t, f.u("tool"), "#!/bin/sh", 0o777|fs.ModeSetuid)
		write(t, f.u("gtool"), "#!/bin/sh", 0o755|fs.ModeSetgid)
		mkdir(t, f.u("shared"), 0o775|fs.ModeSetgid)
		var out strings.Builder
		if _, err := f.sb.Commit(CommitOptions{KeepSetuid: keep, Out: &out}); err != nil {
			t.Fatal(err)
		}
		want := map[string]fs.FileMode{"tool": 0o777, "gtool": 0o755, "shared": fs.ModeDir | 0o775 | fs.ModeSetgid}
		if keep {
			want["tool"] |= fs.ModeSetuid
			want["gtool"] |= fs.ModeSetgid
		}
		for name, mode := range want {
			if info, err := os.Lstat(f.h(name)); err != nil || info.Mode() != mode {
				t.Errorf("keep=%v: %s mode = %v, %v; want %v", keep, name, info.Mode(), err, mode)
			}
		}
		line := fmt.Sprintf("A %s  [setuid -rwsrwxrwx]", f.h("tool"))
		if !keep {
			line += " dropped (--keep-setuid keeps it)"
		}
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("keep=%v: output lacks %q:\n%q", keep, line, out.String())
		}
	}
}

// inMountNSEnv marks the re-executed test binary that runs in its own user
// and mount namespaces, where it may mount a tmpfs.
const inMountNSEnv = "_LAYERS_TEST_IN_MOUNTNS"

func TestCommitRefusesMountPoints(t *testing.T) {
	if os.Getenv(inMountNSEnv) == "" {
		cmd := exec.Command("/proc/self/exe", "-test.run=^TestCommitRefusesMountPoints$", "-test.v")
		cmd.Env = append(os.Environ(), inMountNSEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		out, err := cmd.CombinedOutput()
		if err != nil && len(out) == 0 { // the clone itself failed
			skipOrFail(t, "requires a user namespace: %v: %s", err, out)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("in a mount namespace: %v\n%s", err, out)
		}
		return
	}
	f := newFuseFixture(t)
	write(t, f.h("d/m/keep"), "k", 0o644)
	mkdir(t, f.h("top"), 0o755)
	if err := unix.Mount("tmpfs", f.h("d/m"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", f.h("top"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(f.h("d/m"), unix.MNT_DETACH)
	defer unix.Unmount(f.h("top"), unix.MNT_DETACH)
	write(t, f.h("d/m/mounted"), "on the tmpfs", 0o644)
	f.begin()
	write(t, f.u(".wh.d"), "", 0o644)
	if _, _, err := f.commit(CommitOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Fatalf("deleting a tree with a mount inside: %v", err)
	}
	os.Remove(f.u(".wh.d"))
	write(t, f.u(".wh.top"), "", 0o644)
	if _, _, err := f.commit(CommitOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Fatalf("deleting a mount point: %v", err)
	}
	if got := readFile(t, f.h("d/m/mounted")); got != "on the tmpfs" {
		t.Fatalf("mounted file = %q", got)
	}
}
