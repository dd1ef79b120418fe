package tests

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startReady starts sandbox with args and waits for the command's "ready"
// line on stdout.
func startReady(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = workdir(t)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("no ready line: %q %v\n%s", buf, err, stderr.String())
	}
	return cmd, &stderr
}

// A command that ignores SIGTERM is killed, with everything in the sandbox,
// once --stop-timeout has passed (issue 22: a command stuck in D state on a
// spinning fuse daemon kept `timeout 8 sandbox ...` going for 10 minutes).
func TestStopTimeoutKillsIgnoredTerm(t *testing.T) {
	requires(t, UserNS)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, stderr := startReady(t, "--stop-timeout", "1", "--", "sh", "-c",
				`trap '' TERM INT; (trap '' TERM INT; sleep 60) & echo ready; wait; wait; echo not-reached`)
			sent := time.Now()
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != 137 {
				t.Errorf("after %v ignored: exit %d, want 137\n%s", sig, code, stderr)
			}
			if !strings.Contains(stderr.String(), "did not end within 1s of SIG") {
				t.Errorf("after %v ignored: stderr does not say the sandbox was killed:\n%s", sig, stderr)
			}
			if took < 900*time.Millisecond || took > 8*time.Second {
				t.Errorf("after %v ignored: sandbox ended %v after it, want about 1 s", sig, took)
			}
		})
	}
}

// --stop-timeout -1 waits for the command as long as it takes; a stopped
// command gets SIGCONT after the forwarded SIGTERM, so it can act on it.
func TestStopTimeoutNeverAndStopped(t *testing.T) {
	requires(t, UserNS)
	cmd, stderr := startReady(t, "--stop-timeout", "0", "--", "sh", "-c",
		`trap 'echo got-term; exit 3' TERM; echo ready; kill -STOP $$; echo resumed`)
	time.Sleep(300 * time.Millisecond) // the shell has stopped itself
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 && code != 137 {
		t.Errorf("stopped command after SIGTERM: exit %d, want 3 (it handled the TERM) or 137 (killed at once by --stop-timeout 0)\n%s", code, stderr)
	}

	cmd, stderr = startReady(t, "--stop-timeout=-1", "--", "sh", "-c",
		`trap 'echo got-term' TERM; echo ready; kill -STOP $$; sleep 1.5; echo done-late`)
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("--stop-timeout -1: exit %d, want 0 (the command ends on its own)\n%s", code, stderr)
	}
}
