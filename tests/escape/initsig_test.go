package escape

import (
	"strings"
	"testing"
)

// A signal sent to init from inside can neither end it nor make it print
// (issue 13, W1). Go's runtime crashed on SIGABRT, SIGTRAP, SIGSYS... sent by
// kill(2), printing init's registers on the user's terminal, and the run
// ended 125. Init now takes and drops what it does not forward; SIGKILL and
// SIGSTOP from inside never reach a namespace's init at all.
func TestSignalsToInitFromInside(t *testing.T) {
	// 16 is SIGSTKFLT, which dash has no name for.
	sigs := []string{"ABRT", "SEGV", "BUS", "TRAP", "SYS", "FPE", "ILL", "16",
		"ALRM", "VTALRM", "XCPU", "XFSZ", "PWR", "IO", "PROF", "PIPE", "CHLD", "URG",
		"TSTP", "TTIN", "TTOU", "STOP", "KILL", "CONT"}
	inModes(t, func(t *testing.T, m mode) {
		for _, s := range sigs {
			r := sandbox(t, m.with("--", "sh", "-c", "kill -"+s+" 1; sleep 0.1; echo alive")...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != "alive" || r.stderr != "" {
				t.Errorf("%s: kill -%s 1 from inside: want the command to go on and exit 0 with nothing on stderr:\n%s", m.name, s, r)
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "rip ") {
				t.Errorf("%s: kill -%s 1 printed init's traceback", m.name, s)
			}
		}
	}, defaultMode, rootAll)
}
