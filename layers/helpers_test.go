package layers

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperMknodEnv makes the test binary create one whiteout and exit: it is
// re-executed in a user namespace when mknod is refused outside one.
const helperMknodEnv = "_LAYERS_TEST_MKNOD"

func TestMain(m *testing.M) {
	if p := os.Getenv(helperMknodEnv); p != "" {
		if err := unix.Mknod(p, unix.S_IFCHR|0o600, 0); err != nil {
			fmt.Fprintln(os.Stderr, "mknod:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if root := os.Getenv(helperHoldEnv); root != "" {
		os.Exit(holdEphemeral(root, os.Getenv(helperHoldHostEnv)))
	}
	os.Exit(m.Run())
}

// skipOrFail skips, unless SANDBOX_TESTS_MUST_WORK=1 (CI) makes it fatal.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// mkWhiteout makes a kernel whiteout (char device 0:0) at path. Linux 5.8+
// lets anyone create one; older kernels want a user namespace.
func mkWhiteout(t *testing.T, path string) {
	t.Helper()
	err := unix.Mknod(path, unix.S_IFCHR|0o600, 0)
	if err == nil {
		return
	}
	if err2 := mkWhiteoutInUserNS(path); err2 != nil {
		skipOrFail(t, "cannot create a whiteout: mknod: %v; in a user namespace: %v", err, err2)
	}
}

// mkWhiteoutInUserNS re-executes the test binary in a new user namespace
// (mapping only us) to create the whiteout there.
func mkWhiteoutInUserNS(path string) error {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperMknodEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// isWhiteout reports a character device 0:0, the whiteout of both engines.
func isWhiteout(info fs.FileInfo) bool {
	if info.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// fixture is a sandbox with one layer over a fresh host directory.
type fixture struct {
	t     *testing.T
	store Store
	sb    *Sandbox
	host  string // the layer's host path
	out   string // a directory outside it, which commits must not touch
	upper string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{t: t, store: Store{Root: filepath.Join(root, "store")}, host: filepath.Join(root, "host"), out: filepath.Join(root, "outside")}
	mkdir(t, f.host, 0o755)
	mkdir(t, f.out, 0o755)
	removable(t, root)
	var err error
	if f.sb, err = f.store.Open("t"); err != nil {
		t.Fatal(err)
	}
	if f.upper, _, err = f.sb.Layer(f.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.sb.Destroy() })
	return f
}

// begin starts a run after the host is set up: a clock tick later, so the
// set-up itself is not in the conflict window.
func (f *fixture) begin() {
	f.t.Helper()
	time.Sleep(30 * time.Millisecond)
	if err := f.sb.BeginRun(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) h(rel string) string { return filepath.Join(f.host, rel) }
func (f *fixture) u(rel string) string { return filepath.Join(f.upper, rel) }

func (f *fixture) diff() []Change {
	f.t.Helper()
	ch, err := f.sb.Diff()
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func mkdir(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// newFuseFixture is a fixture whose layer fuse-overlayfs last mounted: its
// whiteouts may be ".wh." files.
func newFuseFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	if err := RecordEngine(f.upper, EngineFuse); err != nil {
		t.Fatal(err)
	}
	return f
}

// opaque marks the upper directory rel opaque as the layer's engine does.
func (f *fixture) opaque(rel string) {
	f.t.Helper()
	ls, err := f.sb.Layers()
	if err != nil || len(ls) != 1 {
		f.t.Fatalf("layers: %v %v", ls, err)
	}
	setXattr(f.t, f.u(rel), ls[0].Engine.markers().opaqueXa[0])
}

func setXattr(t *testing.T, path, name string) {
	t.Helper()
	if err := unix.Lsetxattr(path, name, []byte("y"), 0); err != nil {
		skipOrFail(t, "user xattrs unsupported here: %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tree describes every entry below root: type, mode, content or target.
func tree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%q %v", rel, info.Mode())
		switch {
		case info.Mode().IsRegular():
			line += fmt.Sprintf(" %q", readFile(t, p))
		case info.Mode().Type() == fs.ModeSymlink:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// summary is "K rel" per change, for compact comparisons.
func summary(ch []Change) string {
	var s []string
	for _, c := range ch {
		s = append(s, fmt.Sprintf("%c %s", c.Kind, c.Rel))
	}
	return strings.Join(s, "\n")
}

// removable makes every directory below root u+rwx when the test ends, so
// t.TempDir's cleanup can remove read-only trees the test made.
func removable(t *testing.T, root string) {
	t.Cleanup(func() {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
	})
}
