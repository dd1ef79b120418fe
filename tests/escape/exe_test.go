package escape

import (
	"path/filepath"
	"strings"
	"testing"
)

// The supervisor's binary (runc CVE-2019-5736): init is our binary, so
// /proc/1/exe names the host's file. No name of it the command can reach
// opens for writing (ETXTBSY while it runs, EACCES where /proc/1 is closed),
// and the host's copy keeps its hash, also when the command writes to its
// host path through the copy-on-write view.
func TestSupervisorBinary(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		r := must(t, m.with("--", escapee, "exe", bin)...)
		if r.get("openw:/proc/1/exe") == "(missing)" {
			t.Fatalf("escapee did not try /proc/1/exe:\n%s", r)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			name, res, _ := strings.Cut(l, " ")
			if !strings.HasPrefix(name, "openw:") && !strings.HasPrefix(name, "reopen:") {
				continue
			}
			// ENOENT: a process that was listed has exited since.
			if !oneOf(res, "ETXTBSY", "EACCES", "EPERM", "EROFS", "ENOENT") {
				t.Errorf("%s: %s opened for writing (%s)", m.name, strings.TrimPrefix(name, "openw:"), res)
			}
		}
	}, defaultMode, rootAll)
}

// A script whose interpreter is /proc/self/exe, run as the command, makes the
// kernel resolve /proc/self/exe while init is still exec'ing it: the
// supervisor's binary starts as the command (the first step of CVE-2019-5736).
// It runs as the sandboxed command, with nothing of init's privileges, and
// the host's binary is left as it was.
func TestSupervisorBinaryAsInterpreter(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	dir := workdir(t)
	writeFile(t, filepath.Join(dir, "evil"), "#!/proc/self/exe\n", 0o755)
	r := run{dir: dir}.sandbox(t, "--", "./evil")
	// Our own CLI, run as the command, fails (it cannot make a sandbox
	// inside one): proof that it was the supervisor's binary that ran, and
	// that it got no further.
	if r.code != 125 || !strings.HasPrefix(r.stderr, "sandbox: ") {
		t.Errorf("#!/proc/self/exe as the command: want our CLI's own failure (exit 125, sandbox: ...), got %s", r)
	}
}
