package escape

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOCINamespacePath: config.json's namespace paths are untrusted. Run as
// root of a user namespace of its own (as podman runs it), sandbox-runc is
// asked to join the host's network namespace (its own, owned by the host's
// user namespace, where that root has no rights), a FIFO (which an
// open(2) would block on), an ordinary file, and a user namespace given as
// a network one. Each is refused in one line for the reason designed (the
// kernel's EPERM, "not a namespace file", "another kind of namespace"),
// within seconds, and no container is left.
func TestOCINamespacePath(t *testing.T) {
	dir := t.TempDir()
	runc := filepath.Join(dir, "sandbox-runc")
	if err := os.Symlink(bin, runc); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	for _, c := range []struct{ name, path, want string }{
		{"host net", "/proc/self/ns/net", "operation not permitted"},
		{"fifo", fifo, "not a namespace file"},
		{"file", "/etc/passwd", "not a namespace file"},
		{"wrong kind", "/proc/self/ns/user", "another kind of namespace"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := t.TempDir()
			if err := os.MkdirAll(filepath.Join(b, "rootfs"), 0o755); err != nil {
				t.Fatal(err)
			}
			// /proc/self is the runtime's: the host's network namespace
			// (unshare -Ur makes only a user namespace), and its new user
			// namespace.
			path := c.path
			cfg := map[string]any{
				"ociVersion": "1.0.2",
				"process":    map[string]any{"args": []string{"/true"}, "cwd": "/"},
				"root":       map[string]any{"path": "rootfs"},
				"linux":      map[string]any{"namespaces": []any{map[string]any{"type": "mount"}, map[string]any{"type": "network", "path": path}}},
			}
			data, _ := json.Marshal(cfg)
			writeFile(t, filepath.Join(b, "config.json"), string(data), 0o644)
			root := filepath.Join(b, "state")
			cmd := exec.Command("unshare", "-Ur", runc, "--root", root, "--log", filepath.Join(b, "log"), "create", "--bundle", b, "c")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("create joining %s hung: %s", c.path, out.String())
			}
			msg := strings.TrimSpace(out.String())
			if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("create joining %s (host's is %s): exit %d, %q; want 1 and one line with %q",
					c.path, hostNet, cmd.ProcessState.ExitCode(), msg, c.want)
			}
			if _, err := os.Stat(filepath.Join(root, "c")); !os.IsNotExist(err) {
				t.Fatalf("a refused create left its state: %v", err)
			}
		})
	}
}
