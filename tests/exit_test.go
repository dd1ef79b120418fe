package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	requires(t, UserNS)
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ok", []string{"--", "true"}, 0, ""},
		{"status", []string{"--", "sh", "-c", "exit 3"}, 3, ""},
		{"signal", []string{"--", "sh", "-c", "kill -9 $$"}, 128 + 9, ""},
		{"bad flag", []string{"--no-such-flag", "--", "true"}, 125, "unknown flag"},
		{"bad uid", []string{"--uid", "-5", "--", "true"}, 125, "--uid"},
		{"no command", []string{"--"}, 125, "no command"},
		{"bad map", []string{"--map", "nope", "--", "true"}, 125, "--map"},
		{"bad stop timeout", []string{"--stop-timeout=-5", "--", "true"}, 125, "--stop-timeout"},
		{"bad tmp size", []string{"--tmp-size", "200%", "--", "true"}, 125, "--tmp-size"},
		{"missing bind", []string{"--ro", "/no/such/path", "--", "true"}, 125, "/no/such/path"},
		{"relative tmpfs", []string{"--tmpfs", "rel", "--", "true"}, 125, "absolute"},
		{"bad chdir", []string{"--chdir", "/no/such/dir", "--", "true"}, 125, "chdir"},
		{"not executable", []string{"--", "/etc/passwd"}, 126, "permission denied"},
		{"directory", []string{"--", "/usr"}, 126, ""},
		{"not found", []string{"--", "no-such-command-xyz"}, 127, "not found"},
		{"not found path", []string{"--", "/no/such/cmd"}, 127, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sandbox(t, "", nil, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, c.code, r.stderr)
			}
			if c.stderr != "" {
				if !strings.Contains(r.stderr, c.stderr) {
					t.Errorf("stderr %q lacks %q", r.stderr, c.stderr)
				}
				if n := len(lines(r.stderr)); n != 1 {
					t.Errorf("error is %d lines, want one: %q", n, r.stderr)
				}
			}
		})
	}
}

func TestZombieReaped(t *testing.T) {
	requires(t, UserNS)
	// The orphan's parent (the subshell) exits at once, so init inherits it;
	// once it exits, init must reap it.
	out := must(t, "--", "sh", "-c", "(sleep 0.2 &); sleep 1; ps -e -o stat= | grep -c Z || true")
	if strings.TrimSpace(out) != "0" {
		t.Errorf("%s zombies left after the orphan exited", strings.TrimSpace(out))
	}
}

func TestSignalForwarded(t *testing.T) {
	requires(t, UserNS)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "--", "sh", "-c", `trap 'echo got; exit 42' `+strings.TrimPrefix(sigName(sig), "SIG")+`; echo ready; while :; do sleep 0.05; done`)
			cmd.Dir = workdir(t)
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := stdout.Read(buf); err != nil || string(buf) != "ready\n" {
				t.Fatalf("no ready line: %q %v", buf, err)
			}
			_ = cmd.Process.Signal(sig)
			rest := make([]byte, 16)
			n, _ := stdout.Read(rest)
			_ = cmd.Wait()
			if got := string(rest[:n]); got != "got\n" || cmd.ProcessState.ExitCode() != 42 {
				t.Errorf("after %v: printed %q, exit %d; want got, 42", sig, got, cmd.ProcessState.ExitCode())
			}
		})
	}
}

func sigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "TERM", syscall.SIGINT: "INT", syscall.SIGHUP: "HUP", syscall.SIGUSR1: "USR1"}[s]
}

func TestKillSandboxKillsAll(t *testing.T) {
	requires(t, UserNS)
	marker := fmt.Sprintf("3%d.5", os.Getpid()) // unique to this run
	cmd := exec.Command(bin, "--", "sh", "-c", "sleep "+marker+" & sleep "+marker+"; echo not-reached")
	cmd.Dir = workdir(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool { return len(pidsWith(marker)) == 2 }, "the sandbox's sleeps to start")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, func() bool { return len(pidsWith(marker)) == 0 }, "every process of the sandbox to die after SIGKILL of sandbox")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// pidsWith lists the host PIDs of sleep processes whose arguments contain s.
func pidsWith(s string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "sleep" && strings.Contains(string(b), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestArgvBytes: the command's words reach it byte for byte, also those that
// are not UTF-8 (a Latin-1 file name), on the fast parse and on kong's, and
// through the hand-over to init (wire.go).
func TestArgvBytes(t *testing.T) {
	word := "caf\xe9\xff-\x01"
	for _, args := range [][]string{
		{"--", "printf", "%s", word},
		{"--hostname", "h", "--", "printf", "%s", word},
		{"run", "--", "printf", "%s", word},
		{"-it", "--", "printf", "%s", word}, // kong's parse (-it is two flags)
	} {
		if got := must(t, args...); got != word {
			t.Errorf("sandbox %q printed %q, want %q", args, got, word)
		}
	}
}
