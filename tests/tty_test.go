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
