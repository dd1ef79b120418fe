// Package escape is the escape-attempt suite (issue 9). Each test runs a
// small program (escapee, in ./escapee) or a shell script inside `sandbox`,
// in its default mode and in the modes named, trying one way out; it asserts
// that the attempt fails for the reason the sandbox was designed with (the
// errno, the message) and that nothing changed outside: host files hashed
// before and after, no process of the run left, the test's own mount table
// unchanged.
//
// Like tests/, it drives the binary from outside as the unprivileged user
// running `go test`; SANDBOX_TESTS_MUST_WORK=1 turns every "requires" skip
// into a failure.
package escape

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Set by TestMain.
var (
	// bin is the sandbox binary and escapee the attempts' program, both
	// under $HOME/.cache: visible inside (the sandbox's /tmp is its own),
	// as a user's own build of sandbox would be.
	bin, escapee string
	home         string
	// secret is a file in ~/.ssh, which the sandbox hides; secretDir is
	// ~/.ssh itself.
	secret, secretDir string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	var err error
	if home, err = os.UserHomeDir(); err != nil {
		fmt.Fprintln(os.Stderr, "escape: home:", err)
		return 1
	}
	if err := os.MkdirAll(filepath.Join(home, ".cache"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "escape:", err)
		return 1
	}
	// Built already (CI's VM job builds them on its host: linking under
	// emulation is slow), in a directory the sandbox shows.
	if pre := os.Getenv("SANDBOX_TEST_BINARIES"); pre != "" {
		bin, escapee = filepath.Join(pre, "sandbox"), filepath.Join(pre, "escapee")
	} else {
		dir, err := buildBinaries()
		if err != nil {
			fmt.Fprintln(os.Stderr, "escape:", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	remove, err := plantSecret()
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape:", err)
		return 1
	}
	defer remove()
	return m.Run()
}

// buildBinaries builds sandbox, sandbox-netstack and escapee into a new
// directory under ~/.cache (visible inside), sets bin and escapee, and returns
// the directory.
func buildBinaries() (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(home, ".cache"), "sandbox-escape-")
	if err != nil {
		return "", err
	}
	bin, escapee = filepath.Join(dir, "sandbox"), filepath.Join(dir, "escapee")
	for _, b := range []struct{ out, pkg string }{{bin, "../.."}, {escapee, "./escapee"}, {filepath.Join(dir, "sandbox-netstack"), "../../network/sandbox-netstack"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}
	return dir, nil
}

// plantSecret makes ~/.ssh (if missing) and a file in it, and returns what
// removes both again.
func plantSecret() (func(), error) {
	secretDir = filepath.Join(home, ".ssh")
	made := false
	if _, err := os.Lstat(secretDir); err != nil {
		err := os.Mkdir(secretDir, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) { // another run may just have made it
			return nil, fmt.Errorf("create %s: %w", secretDir, err)
		}
		made = err == nil
	}
	secret = filepath.Join(secretDir, fmt.Sprintf("escape-test-%d", os.Getpid()))
	// Another run of this suite may remove a ~/.ssh it made, emptied, just
	// before we write: make it again.
	var err error
	for range 3 {
		if err = os.WriteFile(secret, []byte("escape-test-secret "+token()+"\n"), 0o600); err == nil {
			break
		}
		_ = os.MkdirAll(secretDir, 0o700)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", secret, err)
	}
	return func() {
		os.Remove(secret)
		if made {
			os.Remove(secretDir)
		}
	}, nil
}

func token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// result is what one run of the sandbox printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// get returns the rest of escapee's line for name ("OK", "EPERM", ...), or
// "(missing)".
func (r result) get(name string) string {
	for _, l := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), " "); ok && k == name {
			return v
		}
	}
	return "(missing)"
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run is one sandbox invocation: in dir (a fresh work directory when empty)
// with env added to ours.
type run struct {
	dir string
	env []string
}

// sandbox runs bin with args and waits at most 20 s. Each run carries a
// marker in its environment (which the command inherits); once it is over,
// no process may still carry it.
func sandbox(t *testing.T, args ...string) result {
	t.Helper()
	return run{}.sandbox(t, args...)
}

func (o run) sandbox(t *testing.T, args ...string) result {
	t.Helper()
	if o.dir == "" {
		o.dir = workdir(t)
	}
	marker := "ESCAPE_RUN=" + token()
	cmd := exec.Command(bin, args...)
	cmd.Dir = o.dir
	cmd.Env = append(append(os.Environ(), o.env...), marker)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("sandbox %q: timed out\nstdout: %s\nstderr: %s", args, out.String(), errb.String())
	}
	noneLeft(t, marker)
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// must runs sandbox and fails the test unless the command exits 0.
func must(t *testing.T, args ...string) result {
	t.Helper()
	r := sandbox(t, args...)
	if r.code != 0 {
		t.Fatalf("sandbox %q: %s", args, r)
	}
	return r
}

// noneLeft fails the test if a process whose environment or command line
// holds marker is still there after 2 s.
func noneLeft(t *testing.T, marker string) {
	t.Helper()
	var left []string
	for end := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = withMarker(marker)
		if len(left) == 0 || time.Now().After(end) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes of a finished run are still there (marker %s): %s", marker, strings.Join(left, "; "))
	}
}

// withMarker lists the processes (other than us) holding marker, as "PID cmdline".
func withMarker(marker string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid := e.Name()
		if pid == fmt.Sprint(os.Getpid()) || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		environ, _ := os.ReadFile("/proc/" + pid + "/environ")
		if bytes.Contains(cmdline, []byte(marker)) || bytes.Contains(environ, []byte(marker)) {
			out = append(out, pid+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// workdir is a fresh directory under $HOME (not /tmp: the sandbox's /tmp is
// its own), removed after the test.
func workdir(t *testing.T) string {
	t.Helper()
	base := filepath.Join(home, ".cache", "sandbox-escape-tests")
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

// writeFile creates path with content or fails the test.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// oneOf says whether got is among want.
func oneOf(got string, want ...string) bool {
	for _, w := range want {
		if got == w {
			return true
		}
	}
	return false
}

// expect checks escapee's result for each attempt named in want against the
// accepted answers, and reports every mismatch, then the run's output once.
func expect(t *testing.T, r result, mode string, want map[string][]string) {
	t.Helper()
	var bad []string
	for name, ok := range want {
		if got := r.get(name); !oneOf(got, ok...) {
			bad = append(bad, fmt.Sprintf("%s%s: got %s, want %s", mode, name, got, strings.Join(ok, " or ")))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("%s\n%s", strings.Join(bad, "\n"), r)
	}
}

// startHostProcess starts a process on the host (killed at the end of the
// test) and returns it.
func startHostProcess(t *testing.T, name string, args ...string) *os.Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process
}
