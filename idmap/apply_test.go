package idmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	newuidmap = "/usr/bin/newuidmap"
	newgidmap = "/usr/bin/newgidmap"
)

// TestApply writes a Build map with the real helpers and reads it back.
func TestApply(t *testing.T) {
	h := requireHelpers(t)
	pid := startInUserNS(t)
	uidMap, gidMap := Build(0, h.uid, h.subuid), Build(0, h.gid, h.subgid)
	if err := Apply(t.Context(), newuidmap, newgidmap, pid, uidMap, gidMap); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := readMap(t, pid, "uid_map"); !reflect.DeepEqual(got, uidMap) {
		t.Errorf("uid_map = %v, want %v", got, uidMap)
	}
	if got := readMap(t, pid, "gid_map"); !reflect.DeepEqual(got, gidMap) {
		t.Errorf("gid_map = %v, want %v", got, gidMap)
	}
}

// TestApplyNotAllowed asks for uids no /etc/subuid line gives: the error must
// quote newuidmap and print the line that is needed, and the gid map still works.
func TestApplyNotAllowed(t *testing.T) {
	h := requireHelpers(t)
	pid := startInUserNS(t)
	start := freeStart(append(h.subuid, Range{h.uid, 1}))
	uidMap := Build(0, h.uid, []Range{{start, 10}})
	gidMap := Build(0, h.gid, h.subgid)

	err := Apply(t.Context(), newuidmap, newgidmap, pid, uidMap, gidMap)
	var he *HelperError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want a *HelperError", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(he.Stderr, "not allowed") {
		t.Errorf("Stderr = %q, want newuidmap's message", he.Stderr)
	}
	line := fmt.Sprintf("%q to /etc/subuid", fmt.Sprintf("%s:%d:10", h.name, start))
	usermod := fmt.Sprintf("usermod --add-subuids %d-%d %s", start, start+9, h.name)
	for _, want := range []string{"write uid map: run " + newuidmap, line, usermod} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(err.Error(), "gid map") {
		t.Errorf("gid map failed too: %v", err)
	}
	if got := readMap(t, pid, "gid_map"); !reflect.DeepEqual(got, gidMap) {
		t.Errorf("gid_map = %v, want %v", got, gidMap)
	}
}

// TestApplyUnprivilegedHelper runs a copy of newuidmap that lost its setuid
// bit, as a broken install would have it.
func TestApplyUnprivilegedHelper(t *testing.T) {
	h := requireHelpers(t)
	pid := startInUserNS(t)
	helper := filepath.Join(t.TempDir(), "newuidmap")
	copyFile(t, newuidmap, helper)

	err := Apply(t.Context(), helper, newgidmap, pid, Build(0, h.uid, h.subuid), Build(0, h.gid, h.subgid))
	t.Logf("error: %v", err)
	want := "reinstall uidmap (apt install --reinstall uidmap) so " + helper + " is setuid root"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}

// TestApplyMissingHelpers needs neither helpers nor sub-IDs: nothing starts.
func TestApplyMissingHelpers(t *testing.T) {
	dir := t.TempDir()
	uid, gid := filepath.Join(dir, "newuidmap"), filepath.Join(dir, "newgidmap")
	err := Apply(t.Context(), uid, gid, os.Getpid(), Single(0, 0), Single(0, 0))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	for _, want := range []string{
		"write uid map: run " + uid, "install uidmap (apt install uidmap), which provides " + uid,
		"write gid map: run " + gid, "which provides " + gid,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	if err := Apply(t.Context(), uid, gid, 1, nil, Single(0, 0)); err == nil {
		t.Error("empty uid map: no error")
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"newuidmap: uid range [0-1) -> [1-2) not allowed\n", "newuidmap: uid range [0-1) -> [1-2) not allowed"},
		{"\n  a  \n\n\tb\r\n", "a; b"},
		{strings.Repeat("x", 600), strings.Repeat("x", maxStderr) + "..."},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// helperEnv is what the tests that run the real helpers need.
type helperEnv struct {
	name           string
	uid, gid       uint32
	subuid, subgid []Range
}

// skipf skips t, or fails it when SANDBOX_TESTS_MUST_WORK=1 (CI, where every
// feature is meant to be there; bubblewrap's BWRAP_MUST_WORK).
func skipf(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// requireHelpers skips the test unless the real helpers can work here: not
// root (root needs no sub-IDs), helpers installed, sub-IDs in both files.
func requireHelpers(t *testing.T) helperEnv {
	t.Helper()
	if os.Getuid() == 0 {
		skipf(t, "requires a non-root user: root maps IDs without sub-ID checks")
	}
	for _, p := range []string{newuidmap, newgidmap} {
		if _, err := os.Stat(p); err != nil {
			skipf(t, "requires %s: %v", p, err)
		}
	}
	u, err := user.Current()
	if err != nil {
		skipf(t, "requires a user name: %v", err)
	}
	h := helperEnv{name: u.Username, uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	if h.subuid, err = LookupSubIDs("/etc/subuid", h.name, h.uid); err != nil || len(h.subuid) == 0 {
		skipf(t, "requires /etc/subuid ranges for %s: %v", h.name, err)
	}
	if h.subgid, err = LookupSubIDs("/etc/subgid", h.name, h.uid); err != nil || len(h.subgid) == 0 {
		skipf(t, "requires /etc/subgid ranges for %s: %v", h.name, err)
	}
	return h
}

// startInUserNS starts a sleep in a new user namespace, with unwritten maps,
// and kills it when the test ends.
func startInUserNS(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "5")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		skipf(t, "requires unprivileged user namespaces: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

func readMap(t *testing.T, pid int, file string) []Mapping {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m []Mapping
	for s := bufio.NewScanner(f); s.Scan(); {
		var n [3]uint32
		for i, field := range strings.Fields(s.Text()) {
			v, err := strconv.ParseUint(field, 10, 32)
			if err != nil || i > 2 {
				t.Fatalf("%s line %q: %v", file, s.Text(), err)
			}
			n[i] = uint32(v)
		}
		m = append(m, Mapping{Inside: n[0], Outside: n[1], Count: n[2]})
	}
	return m
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
