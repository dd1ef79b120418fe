package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `sandbox rm` of a sandbox whose --uid 0 run left files of other IDs
// (sub-IDs on the host, which the user cannot remove or even enter) removes
// it whole, in one call; and nothing in the store is left unreadable (the
// kernel overlay's mode-000 work/work directories).
func TestRmSubIDFiles(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	name := fmt.Sprintf("subid-rm-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	dir := workdir(t)
	script := `mkdir -p /opt/sb19/a/b && touch /opt/sb19/a/b/f && chown -R 5:5 /opt/sb19/a && chmod 700 /opt/sb19/a /opt/sb19/a/b &&
		mkdir /var/tmp/sb19 && touch /var/tmp/sb19/g && chown -R 7:7 /var/tmp/sb19 && chmod 700 /var/tmp/sb19`
	if r := sandbox(t, dir, nil, "--name", name, "--uid", "0", "--", "sh", "-c", script); r.code != 0 {
		t.Fatalf("run: exit %d, %s", r.code, r.stderr)
	}
	store := storeDir(t)
	// A second, kernel-overlay run (the default) leaves work/work behind.
	if r := sandbox(t, dir, nil, "--name", name, "--", "true"); r.code != 0 {
		t.Fatalf("second run: exit %d, %s", r.code, r.stderr)
	}
	works, _ := filepath.Glob(filepath.Join(store, name, "layers", "*", "work", "work"))
	if len(works) == 0 {
		t.Errorf("no work/work in %s: the check below proves nothing", store)
	}
	for _, w := range works {
		if info, err := os.Stat(w); err != nil || info.Mode().Perm()&0o700 != 0o700 {
			t.Errorf("%s left unreadable to its owner: %v, %v", w, info.Mode(), err)
		}
	}
	r := sandbox(t, "", nil, "rm", name)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("rm of a sandbox with sub-ID files: exit %d, stderr %q; want 0 and nothing said", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(store, name)); !os.IsNotExist(err) {
		t.Fatalf("rm left %s: %v", filepath.Join(store, name), err)
	}
}

// The review commands' edges: rm of a missing name says so as diff does; a
// commit of a path without changes fails and commits nothing; diff -p is a
// unified diff; path prints where the changes are.
func TestReviewEdges(t *testing.T) {
	requires(t, UserNS)
	name := fmt.Sprintf("edges-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	host := workdir(t)
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sandbox(t, host, nil, "--name", name, "--cow", "--", "sh", "-c", "echo three >> f; echo new > g"); r.code != 0 {
		t.Fatalf("run: exit %d, %s", r.code, r.stderr)
	}
	missing := "no-such-sandbox-" + fmt.Sprint(os.Getpid())
	for _, cmd := range []string{"rm", "diff", "path"} {
		r := sandbox(t, "", nil, cmd, missing)
		if want := "sandbox: no sandbox named " + missing + " (see sandbox ls)"; r.code != 125 || len(lines(r.stderr)) != 1 ||
			!strings.HasPrefix(r.stderr, want) {
			t.Errorf("%s of a missing name: exit %d, %q; want 125 and %q", cmd, r.code, r.stderr, want)
		}
	}
	r := sandbox(t, "", nil, "commit", name, filepath.Join(host, "g"), filepath.Join(host, "nosuch"))
	if r.code != 125 || !strings.Contains(r.stderr, "no change at or under "+filepath.Join(host, "nosuch")) {
		t.Errorf("commit of a path without changes: exit %d, %q; want 125 naming it", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(host, "g")); err == nil {
		t.Errorf("a refused commit wrote %s", filepath.Join(host, "g"))
	}
	r = sandbox(t, "", nil, "diff", "-p", name)
	want := "--- a" + host + "/f\n+++ b" + host + "/f\n@@ -1,2 +1,3 @@\n one\n two\n+three\n" +
		"--- /dev/null\n+++ b" + host + "/g\n@@ -0,0 +1 @@\n+new\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("diff -p: exit %d, stderr %q:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	// One layer per overlaid host directory: the one above host holds g.
	r = sandbox(t, "", nil, "path", name)
	var g string
	for _, l := range lines(r.stdout) {
		if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(host+"/", strings.TrimSuffix(f[0], "/")+"/") {
			g = filepath.Join(f[1], strings.TrimPrefix(host, f[0]), "g")
		}
	}
	if b, err := os.ReadFile(g); r.code != 0 || err != nil || string(b) != "new\n" {
		t.Errorf("path: exit %d, %q, %q: no layer above %s holds g (%v)", r.code, r.stdout, r.stderr, host, err)
	}
}

// storeDir is where the tests' sandboxes keep their layers.
func storeDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sandbox")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".local", "share", "sandbox")
}
