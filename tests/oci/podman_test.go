package oci

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodman runs containers through podman with sandbox-runc as its
// runtime, as a user would: an image imported from a busybox tarball, the
// cgroupfs manager and file events (no systemd user session needed), no
// network. Exit statuses pass through podman; a missing command is 127.
func TestPodman(t *testing.T) {
	podman, image := newPodman(t)
	run := func(args ...string) result {
		return podman(append([]string{"--runtime", runtime, "run", "--rm", "--network=none", image}, args...)...)
	}
	if r := run("true"); r.code != 0 {
		t.Fatalf("podman run true: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if r := run("sh", "-c", "echo hello from $(hostname); exit 5"); r.code != 5 || !strings.HasPrefix(r.stdout, "hello from ") {
		t.Fatalf("podman run exit 5: exit %d, stdout %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := run("no-such-command"); r.code != 127 {
		t.Fatalf("podman run of a missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	// Our lock-down under podman: no_new_privs, and init not ptraceable.
	if r := run("grep", "NoNewPrivs", "/proc/self/status"); r.code != 0 || !strings.Contains(r.stdout, "1") {
		t.Fatalf("NoNewPrivs: exit %d, %q", r.code, r.stdout)
	}
}

// newPodman imports a busybox image for the test (removed at its end) and
// returns a podman runner with the cgroupfs manager and file events.
func newPodman(t *testing.T) (func(args ...string) result, string) {
	t.Helper()
	requires(t, UserNS, Busybox, Podman)
	b := bundle(t, []string{"true"}, nil)
	tarball := filepath.Join(t.TempDir(), "busybox.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(b, "rootfs"), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	image := fmt.Sprintf("localhost/sandbox-oci-test:%d", time.Now().UnixNano())
	podman := func(args ...string) result {
		t.Helper()
		cmd := exec.Command("podman", append([]string{"--cgroup-manager=cgroupfs", "--events-backend=file"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		done := make(chan struct{})
		go func() { _ = cmd.Run(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("podman %q: timed out; stderr: %s", args, errb.String())
		}
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	if r := podman("import", tarball, image); r.code != 0 {
		t.Fatalf("podman import: exit %d: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { podman("rmi", "-f", image) })
	return podman, image
}
