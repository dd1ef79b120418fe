package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The review workflow through the binary: diff lists each kind of change,
// commit applies exactly those, a conflict stops it, and the host is otherwise
// untouched.
func TestDiffAndCommit(t *testing.T) {
	requires(t, UserNS)
	name := fmt.Sprintf("review-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	host := workdir(t)
	w := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(host, p)), 0o755)
		if err := os.WriteFile(filepath.Join(host, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("mod", "old\n")
	w("del", "x\n")
	w("old-name", "moved\n")
	w("dir/inner", "i\n")
	script := fmt.Sprintf(`cd %q && echo new > add && echo changed > mod && rm del && mv old-name new-name &&
		ln -s add link && rm -r dir && echo now-a-file > dir`, host)
	if r := sandbox(t, "", nil, "--name", name, "--", "sh", "-c", script); r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	r := sandbox(t, "", nil, "diff", name)
	want := []string{"A " + host + "/add", "D " + host + "/del", "M " + host + "/dir", "A " + host + "/link",
		"M " + host + "/mod", "A " + host + "/new-name", "D " + host + "/old-name"}
	got := lines(r.stdout)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant:\n%s\n(stderr %s)", r.stdout, strings.Join(want, "\n"), r.stderr)
	}
	if r := sandbox(t, "", nil, "diff", "--stat", name); !strings.Contains(r.stdout, "added") {
		t.Errorf("diff --stat: %q", r.stdout)
	}
	// Nothing reached the host yet.
	if b, _ := os.ReadFile(filepath.Join(host, "mod")); string(b) != "old\n" {
		t.Fatalf("host changed before commit: %q", b)
	}
	// A conflict: the host file changes after the sandbox copied it.
	time.Sleep(10 * time.Millisecond)
	w("mod", "host edit\n")
	if r := sandbox(t, "", nil, "commit", name); r.code != 125 || !strings.Contains(r.stderr, "mod") {
		t.Errorf("commit over a conflict: exit %d, %q; want 125 naming the file", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(host, "add")); err == nil {
		t.Errorf("a refused commit changed the host")
	}
	if r := sandbox(t, "", nil, "commit", "--dry-run", "--force", name); r.code != 0 {
		t.Errorf("dry run: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(host, "add")); err == nil {
		t.Errorf("--dry-run changed the host")
	}
	if r := sandbox(t, "", nil, "commit", "--force", name); r.code != 0 {
		t.Fatalf("commit --force: %d %s", r.code, r.stderr)
	}
	check := map[string]string{"add": "new\n", "mod": "changed\n", "new-name": "moved\n", "dir": "now-a-file\n"}
	for f, c := range check {
		if b, err := os.ReadFile(filepath.Join(host, f)); err != nil || string(b) != c {
			t.Errorf("after commit %s = %q, %v; want %q", f, b, err, c)
		}
	}
	for _, f := range []string{"del", "old-name"} {
		if _, err := os.Lstat(filepath.Join(host, f)); err == nil {
			t.Errorf("after commit %s still exists", f)
		}
	}
	if l, err := os.Readlink(filepath.Join(host, "link")); err != nil || l != "add" {
		t.Errorf("symlink committed as %q, %v", l, err)
	}
	if r := sandbox(t, "", nil, "diff", name); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("diff after commit: %q", r.stdout)
	}
}

func TestNamedSandboxLock(t *testing.T) {
	requires(t, UserNS)
	name := fmt.Sprintf("lock-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	dir := workdir(t)
	cmd := exec.Command(bin, "--name", name, "--", "sh", "-c", "touch started; sleep 3")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the first run to start")
	r := sandbox(t, "", nil, "--name", name, "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("second run of a busy name: exit %d, %q; want 125, in use", r.code, r.stderr)
	}
	start := time.Now()
	r = sandbox(t, "", nil, "--name", name, "--wait", "--", "true")
	if r.code != 0 || time.Since(start) < time.Second {
		t.Errorf("--wait: exit %d after %v, %s", r.code, time.Since(start), r.stderr)
	}
	if r := sandbox(t, "", nil, "rm", "no-such-sandbox-xyz"); r.code != 125 {
		t.Errorf("rm of a missing name: exit %d", r.code)
	}
}

func TestRootfs(t *testing.T) {
	requires(t, UserNS)
	root := workdir(t)
	for _, d := range []string{"bin", "etc", "proc", "dev", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	busybox, err := exec.LookPath("busybox")
	sh := "/bin/sh"
	if err != nil {
		// No busybox: a static Go probe is the whole userland.
		busybox, sh = probe, "/bin/probe"
	}
	data, _ := os.ReadFile(busybox)
	os.WriteFile(filepath.Join(root, "bin", filepath.Base(sh)), data, 0o755)
	os.WriteFile(filepath.Join(root, "etc", "marker"), []byte("from-rootfs"), 0o644)
	if sh == "/bin/probe" {
		r := sandbox(t, "", nil, "--rootfs", root, "--", sh, "syscalls")
		if r.code != 0 || !strings.Contains(r.stdout, "keyctl EPERM") {
			t.Errorf("--rootfs with a static probe: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		r = sandbox(t, "", nil, "--rootfs", root, "--", "/usr/bin/true")
		if r.code != 127 {
			t.Errorf("the host's /usr is visible with --rootfs: exit %d", r.code)
		}
		return
	}
	r := sandbox(t, "", nil, "--rootfs", root, "--", sh, "-c", "cat /etc/marker; echo x > /etc/new; ls /usr 2>&1 | head -1")
	if !strings.HasPrefix(r.stdout, "from-rootfs") {
		t.Errorf("--rootfs: %q %s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "new")); err == nil {
		t.Errorf("--rootfs: a write reached the tree")
	}
}

// A commit killed part way leaves every host file either old or new, never
// half written.
func TestKilledCommitIsAtomicPerFile(t *testing.T) {
	requires(t, UserNS)
	name := fmt.Sprintf("kill-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	host := workdir(t)
	old := strings.Repeat("o", 256<<10)
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(host, fmt.Sprintf("f%02d", i)), []byte(old), 0o644)
	}
	script := fmt.Sprintf(`cd %q && for f in f*; do head -c 262144 /dev/zero | tr '\0' n > $f; done`, host)
	if r := sandbox(t, "", nil, "--name", name, "--", "sh", "-c", script); r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	for _, delay := range []time.Duration{2 * time.Millisecond, 8 * time.Millisecond, 30 * time.Millisecond} {
		cmd := exec.Command(bin, "commit", "--force", name)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for i := 0; i < 40; i++ {
			b, err := os.ReadFile(filepath.Join(host, fmt.Sprintf("f%02d", i)))
			if err != nil {
				t.Fatalf("f%02d after a killed commit: %v", i, err)
			}
			if s := string(b); s != old && s != strings.Repeat("n", 256<<10) {
				t.Fatalf("f%02d is neither old nor new after a commit killed at %v (%d bytes)", i, delay, len(b))
			}
		}
	}
	// Whatever the kills left, a full commit finishes the job.
	if r := sandbox(t, "", nil, "commit", "--force", name); r.code != 0 {
		t.Fatalf("commit after kills: %d %s", r.code, r.stderr)
	}
	for i := 0; i < 40; i++ {
		if b, _ := os.ReadFile(filepath.Join(host, fmt.Sprintf("f%02d", i))); string(b) != strings.Repeat("n", 256<<10) {
			t.Fatalf("f%02d not new after the final commit", i)
		}
	}
	// Nothing but the 40 files (a killed commit may leave a temporary
	// ".sandbox-*" file behind; nothing else).
	ents, _ := os.ReadDir(host)
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".sandbox-") {
			n++
		}
	}
	if n != 40 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("host directory holds %d entries after the commits: %v", len(ents), names)
	}
}
