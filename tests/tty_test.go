package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// An interactive shell on a terminal gets job control: it runs in the
// terminal's foreground process group, and the terminal's size is its own.
func TestTerminalJobControl(t *testing.T) {
	requires(t, UserNS)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skipf("requires script(1) from util-linux to make a terminal: %v", err)
	}
	inner := bin + ` -- bash --norc -i -c 'case $- in *m*) echo monitor-on;; esac; stty size; ps -o stat= -p $$'`
	cmd := exec.Command(script, "-q", "-e", "-c", "stty cols 91 rows 33; "+inner, "/dev/null")
	cmd.Dir = workdir(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := strings.ReplaceAll(string(out), "\r", "")
	if strings.Contains(s, "no job control") || !strings.Contains(s, "monitor-on") {
		t.Errorf("bash inside has no job control:\n%s", s)
	}
	if !strings.Contains(s, "33 91") {
		t.Errorf("terminal size inside is not the terminal's (33 91):\n%s", s)
	}
	if !strings.Contains(s, "+") {
		t.Errorf("shell is not in the terminal's foreground process group:\n%s", s)
	}
}

// The terminal has a name inside (issue 19, item 9): it is a pty of the
// host's devpts, which the sandbox's own devpts does not show, so `tty`
// printed "not a tty" and GPG_TTY=$(tty), ssh's and sudo-style prompts had
// nothing to open. It is /dev/console inside, as under bubblewrap, and
// reading the name back reaches the same terminal.
func TestTerminalHasName(t *testing.T) {
	requires(t, UserNS)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skipf("requires script(1) from util-linux to make a terminal: %v", err)
	}
	inner := bin + ` -- sh -c 'tty; test -t 0 && echo stdin-tty; stty -F "$(tty)" size'`
	cmd := exec.Command(script, "-q", "-e", "-c", "stty cols 77 rows 22; "+inner, "/dev/null")
	cmd.Dir = workdir(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := strings.ReplaceAll(string(out), "\r", "")
	if !strings.Contains(s, "/dev/console\n") || strings.Contains(s, "not a tty") {
		t.Errorf("tty inside: want /dev/console:\n%s", s)
	}
	if !strings.Contains(s, "22 77") {
		t.Errorf("the terminal reached by its name inside is not the caller's (size 22 77):\n%s", s)
	}
	// Without a terminal there is no /dev/console to find.
	if out := must(t, "--", "sh", "-c", "test -e /dev/console && echo console || echo none"); strings.TrimSpace(out) != "none" {
		t.Errorf("without a terminal /dev/console exists inside: %q", out)
	}
}
