package escape

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// inTerminal runs sandbox with args on a new pseudo-terminal (script(1)), as
// from an interactive shell, and returns what the terminal showed.
func inTerminal(t *testing.T, args ...string) result {
	t.Helper()
	marker := "ESCAPE_RUN=" + token()
	line := bin + " " + strings.Join(args, " ")
	cmd := exec.Command("script", "-q", "-e", "-c", line, "/dev/null")
	cmd.Dir = workdir(t)
	cmd.Env = append(os.Environ(), marker)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("script -c %q: timed out: %s", line, out)
	}
	noneLeft(t, marker)
	r := result{stdout: strings.ReplaceAll(string(out), "\r", "")}
	if err != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	return r
}

// The command cannot type into the terminal it runs on (TIOCSTI, also with
// the high bits of the request set: CVE-2019-10063) nor drive the console
// (TIOCLINUX): the seccomp filter answers EPERM. Without a terminal on stdin
// it has no controlling terminal at all.
func TestTerminal(t *testing.T) {
	requires(t, UserNS, Script)
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		r := inTerminal(t, m.with("--", escapee, "tty")...)
		if r.get("isatty") != "true" {
			t.Fatalf("the command's stdin is not the terminal, the case proves nothing:\n%s", r)
		}
		expect(t, r, "on a terminal: ", map[string][]string{
			"tiocsti":        {"EPERM"},
			"tiocsti-hibits": {"EPERM"},
			"tioclinux":      {"EPERM"},
		})
		r = must(t, m.with("--", escapee, "tty")...)
		expect(t, r, "without a terminal: ", map[string][]string{
			"isatty":         {"false"},
			"devtty":         {"ENXIO"},
			"session-leader": {"true"},
			"tiocsti":        {"EPERM"},
		})
	}, defaultMode, rootAll)
}
