package oci

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPodmanExec: podman exec into a running container (through conmon's
// exec --detach --pid-file), podman run -t (a console socket), and podman
// stop of a sleeping container, with sandbox-runc as the runtime.
func TestPodmanExec(t *testing.T) {
	podman, image := newPodman(t)
	name := fmt.Sprintf("sandbox-oci-exec-%d", time.Now().UnixNano())
	rtFlag := []string{"--runtime", runtime}
	if r := podman(append(rtFlag, "run", "-d", "--name", name, "--network=none", image, "sleep", "600")...); r.code != 0 {
		t.Fatalf("podman run -d: exit %d\nstderr: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { podman(append(rtFlag, "rm", "-f", "-t", "0", name)...) })
	r := podman(append(rtFlag, "exec", name, "sh", "-c", "echo $((6*7)) in $(hostname); grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; exit 3")...)
	if r.code != 3 || !strings.HasPrefix(r.stdout, "42 in ") || !strings.Contains(r.stdout, "NoNewPrivs:\t1\nSeccomp:\t2\n") {
		t.Errorf("podman exec: exit %d, stdout %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := podman(append(rtFlag, "exec", name, "no-such-command")...); r.code != 127 {
		t.Errorf("podman exec of a missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	if r := podman(append(rtFlag, "exec", "-w", "/proc/self/fd/3", name, "pwd")...); r.code == 0 {
		t.Errorf("podman exec -w /proc/self/fd/3: exit 0, ran in %q", r.stdout)
	}
	// podman run -t: the container's stdio are a pty, sent through the
	// console socket to conmon.
	r = podman(append(rtFlag, "run", "--rm", "-t", "--network=none", image, "sh", "-c", "tty; [ -t 0 ] && echo on-a-tty")...)
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/0") || !strings.Contains(r.stdout, "on-a-tty") {
		t.Errorf("podman run -t: exit %d, stdout %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// podman stop: SIGTERM reaches sleep (not PID 1 here: init is), so it
	// ends at once, well within the stop timeout.
	start := time.Now()
	if r := podman(append(rtFlag, "stop", "-t", "10", name)...); r.code != 0 {
		t.Fatalf("podman stop: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Errorf("podman stop took %s: the stop signal did not end the container", d)
	}
	r = podman(append(rtFlag, "inspect", "--format", "{{.State.ExitCode}}", name)...)
	if got := strings.TrimSpace(r.stdout); got != "143" && got != "137" {
		t.Errorf("exit code after podman stop: %q, want 143 (SIGTERM) or 137\nstderr: %s", got, r.stderr)
	}
}
