// Package tests holds the black-box integration tests: they build the sandbox
// binary once and drive it from outside, as the unprivileged user running them.
package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin is the sandbox binary built by TestMain; probe is tests/probe, built
// under $HOME so that it is visible inside (the sandbox's /tmp is its own).
var bin, probe string

func TestMain(m *testing.M) {
	// The developer's own config file must not change what the tests run.
	if os.Getenv("SANDBOX_CONFIG") == "" {
		os.Setenv("SANDBOX_CONFIG", "/dev/null")
	}
	// Built already (CI's VM job builds them on its host: linking under
	// emulation is slow); the directory must be where the sandbox shows it.
	if pre := os.Getenv("SANDBOX_TEST_BINARIES"); pre != "" {
		bin, probe = filepath.Join(pre, "sandbox"), filepath.Join(pre, "probe")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sandbox-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "sandbox")
	// sandbox-netstack beside sandbox, where --net gvisor looks first.
	for out, pkg := range map[string]string{bin: "..", filepath.Join(dir, "sandbox-netstack"): "../network/sandbox-netstack"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "tests: build", pkg+":", err)
			os.Exit(1)
		}
	}
	home, _ := os.UserHomeDir()
	probeDir, err := os.MkdirTemp(filepath.Join(home, ".cache"), "sandbox-probe-")
	if err == nil {
		probe = filepath.Join(probeDir, "probe")
		pb := exec.Command("go", "build", "-o", probe, "./probe")
		pb.Env = append(os.Environ(), "CGO_ENABLED=0") // static: it also runs as a whole --rootfs userland
		err = pb.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: build probe:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.RemoveAll(probeDir)
	os.Exit(code)
}

// result is what one run of the sandbox printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
	pid            int // sandbox's: its scope is named sandbox-PID-*
}

// sandbox runs the binary with args in dir (a fresh work directory when empty)
// and waits at most 30 s.
func sandbox(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runIn(t, dir, 30*time.Second, env, args...)
}

// runFor is sandbox with a time limit of its own (an import of a whole
// distribution, an apt-get install from the mirror).
func runFor(t *testing.T, limit time.Duration, env []string, args ...string) result {
	t.Helper()
	return runIn(t, "", limit, env, args...)
}

func runIn(t *testing.T, dir string, limit time.Duration, env []string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = workdir(t)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("sandbox %q: timed out after %v; stderr: %s", args, limit, errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode(), cmd.Process.Pid}
}

// must runs sandbox and fails the test unless the command exits 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	r := sandbox(t, "", nil, args...)
	if r.code != 0 {
		t.Fatalf("sandbox %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// workdir is a fresh directory under $HOME (not /tmp: /tmp is a private tmpfs
// inside, and the test must see that it is empty).
func workdir(t *testing.T) string {
	t.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("home: %v", err)
	}
	base := filepath.Join(home, ".cache", "sandbox-tests")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatalf("create %s: %v", base, err)
	}
	dir, err := os.MkdirTemp(base, "w-")
	if err != nil {
		t.Fatalf("create work dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}
