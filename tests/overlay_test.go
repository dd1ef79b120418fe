package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func hashFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func dataDir(t *testing.T) string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "sandbox")
}

// Writes, appends and deletions outside the current directory land in the
// copy-on-write layer: seen inside, the host unchanged.
func TestOverlayCopyOnWrite(t *testing.T) {
	requires(t, UserNS)
	for _, mode := range []string{"kernel", "fuse"} {
		t.Run(mode, func(t *testing.T) {
			host := workdir(t)
			for _, f := range []string{"keep", "del"} {
				if err := os.WriteFile(filepath.Join(host, f), []byte("host\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := hashFile(t, filepath.Join(host, "keep"))
			script := fmt.Sprintf(`cd %q && echo inside >> keep && echo new > new && rm del && cat keep new && ls`, host)
			r := sandbox(t, workdir(t), nil, "--overlay", mode, "--", "sh", "-c", script)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := strings.Join(lines(r.stdout), ","); got != "host,inside,new,keep,new" {
				t.Errorf("inside saw %q, want the writes and the deletion", got)
			}
			if hashFile(t, filepath.Join(host, "keep")) != before {
				t.Errorf("host file changed")
			}
			if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
				t.Errorf("a file created inside reached the host")
			}
			if _, err := os.Stat(filepath.Join(host, "del")); err != nil {
				t.Errorf("a deletion inside reached the host: %v", err)
			}
		})
	}
}

// Root inside may write the system's files (fuse-overlayfs shows them as
// root's); the host's copies stay as they were.
func TestOverlayRootWrites(t *testing.T) {
	requires(t, UserNS)
	before := hashFile(t, "/etc/hosts")
	r := sandbox(t, "", nil, "--uid", "0", "--", "sh", "-c",
		"echo '127.0.0.9 sandbox-test' >> /etc/hosts && grep -c sandbox-test /etc/hosts && mkdir /usr/local/sandbox-test-dir && echo ok")
	if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.stdout), "ok") {
		t.Fatalf("--uid 0 writes under /etc and /usr: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	if hashFile(t, "/etc/hosts") != before {
		t.Errorf("/etc/hosts changed on the host")
	}
	if _, err := os.Stat("/usr/local/sandbox-test-dir"); err == nil {
		t.Errorf("/usr/local/sandbox-test-dir reached the host")
	}
}

func TestNamedSandboxPersists(t *testing.T) {
	requires(t, UserNS)
	name := fmt.Sprintf("test-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	host := workdir(t)
	target := filepath.Join(host, "tool")
	if r := sandbox(t, "", nil, "--name", name, "--", "sh", "-c", "echo installed > "+target); r.code != 0 {
		t.Fatalf("first run: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatalf("the named sandbox's write reached the host")
	}
	r := sandbox(t, "", nil, "--name", name, "--", "cat", target)
	if strings.TrimSpace(r.stdout) != "installed" {
		t.Errorf("second run with the same name sees %q (exit %d, %s), want the first run's file", r.stdout, r.code, r.stderr)
	}
	if r := sandbox(t, "", nil, "--", "cat", target); r.code == 0 {
		t.Errorf("a run without the name sees the named sandbox's file")
	}
}

func TestHiddenSecrets(t *testing.T) {
	requires(t, UserNS)
	home, _ := os.UserHomeDir()
	ssh := filepath.Join(home, ".ssh")
	created := false
	if _, err := os.Stat(ssh); err != nil {
		if err := os.MkdirAll(ssh, 0o700); err != nil {
			t.Fatal(err)
		}
		created = true
	}
	secret := filepath.Join(ssh, "sandbox_test_key")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(secret)
		if created {
			os.Remove(ssh)
		}
	})
	other := filepath.Join(workdir(t), "private.txt")
	os.WriteFile(other, []byte("PRIVATE"), 0o600)
	link := filepath.Join(workdir(t), "link")
	os.Symlink(ssh, link)
	script := fmt.Sprintf(`cat %q %q %q/sandbox_test_key /proc/self/root%s 2>/dev/null; ls -A %q | wc -l`, secret, other, link, secret, ssh)
	r := sandbox(t, "", nil, "--hide", other, "--", "sh", "-c", script)
	if strings.Contains(r.stdout, "SECRET") || strings.Contains(r.stdout, "PRIVATE") || strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("hidden paths readable inside: %q", r.stdout)
	}
	r = sandbox(t, "", nil, "--show", ssh, "--", "cat", secret)
	if r.stdout != "SECRET" {
		t.Errorf("--show %s: got %q, %s", ssh, r.stdout, r.stderr)
	}
}

// Nothing a run wrote stays on disk after it: the ephemeral layers are
// emptied at exit (and, when sandbox was killed, at the next start).
func TestEphemeralLayerRemoved(t *testing.T) {
	requires(t, UserNS)
	eph := filepath.Join(dataDir(t), ".ephemeral")
	// Only this test's own files: other test packages run sandboxes at the
	// same time, in other slots of the pool.
	leftovers := func() []string {
		uppers, _ := filepath.Glob(filepath.Join(eph, "*", "layers", "*", "upper", "*", ".sandbox-eph-test*"))
		return uppers
	}
	home, _ := os.UserHomeDir()
	must(t, "--", "sh", "-c", "echo x > "+filepath.Join(home, ".sandbox-eph-test"))
	if l := leftovers(); len(l) > 0 {
		t.Errorf("after a run, its writes are still in an ephemeral layer: %v", l)
	}
	// SIGKILL of sandbox leaves its layer; the next run cleans it.
	dir := workdir(t)
	cmd := exec.Command(bin, "--", "sh", "-c", "echo x > $HOME/.sandbox-eph-test2; touch started; sleep 60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the command to start")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	must(t, "--", "true")
	if l := leftovers(); len(l) > 0 {
		t.Errorf("after SIGKILL and a new run, writes are still in an ephemeral layer: %v", l)
	}
	if _, err := os.Stat(filepath.Join(home, ".sandbox-eph-test2")); err == nil {
		t.Errorf("a write inside reached the host")
	}
}

func TestCowKeepsCurrentDirectory(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	r := sandbox(t, dir, nil, "--cow", "--", "sh", "-c", "echo x > made")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); err == nil {
		t.Errorf("--cow: a write in the current directory reached the host")
	}
	i := strings.Index(r.stderr, "sandbox diff ")
	if i < 0 {
		t.Fatalf("--cow without --name did not say where the changes are: %q", r.stderr)
	}
	name := strings.Fields(r.stderr[i+len("sandbox diff "):])[0]
	name = strings.Trim(name, "`,")
	sandbox(t, "", nil, "rm", name)
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"../x", "a/b", strings.Repeat("n", 65), ".hidden"} {
		r := sandbox(t, "", nil, "--name", n, "--", "true")
		if r.code != 125 || len(lines(r.stderr)) != 1 {
			t.Errorf("--name %q: exit %d, stderr %q; want 125, one line", n, r.code, r.stderr)
		}
	}
}

// A top-level directory the caller cannot enter on the host (/root) gets no
// layer: it stays as closed inside as outside, instead of showing the
// caller's own empty upper directory (which they could write to).
func TestOverlaySkipsClosedDirs(t *testing.T) {
	requires(t, UserNS)
	if _, err := os.ReadDir("/root"); err == nil {
		t.Skip("/root is readable by this user on the host; nothing to check")
	}
	r := sandbox(t, "", nil, "--", "sh", "-c", "ls /root; touch /root/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("/root inside: exit %d, %q; want it closed (Permission denied) as on the host", r.code, r.stderr)
	}
}
