package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sandbox/tests/feature"
)

// checkNames are the lines of `sandbox check`, in order.
var checkNames = []string{"userns", "newuidmap", "subids", "seccomp", "data-dir", "config", "run", "overlay", "fuse", "network", "systemd"}

type checkLine struct{ status, found string }

// runCheck runs `sandbox check` with env and parses its lines by name. The
// config file is an empty directory's unless env names another.
func runCheck(t *testing.T, env ...string) (map[string]checkLine, result) {
	t.Helper()
	env = append([]string{"XDG_CONFIG_HOME=" + t.TempDir()}, env...)
	start := time.Now()
	r := sandbox(t, "", env, "check")
	t.Logf("sandbox check took %v:\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	got := map[string]checkLine{}
	var names []string
	for _, l := range lines(r.stdout) {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("check line %q: want STATUS NAME FOUND", l)
		}
		if !slices.Contains([]string{"ok", "warn", "FAIL"}, f[0]) {
			t.Errorf("check line %q: status %q", l, f[0])
		}
		names = append(names, f[1])
		found, _ := strings.CutPrefix(strings.TrimSpace(l[len(f[0]):]), f[1])
		got[f[1]] = checkLine{f[0], strings.TrimSpace(found)}
	}
	if !slices.Equal(names, checkNames) {
		t.Errorf("check lines %q, want %q", names, checkNames)
	}
	if r.stderr != "" {
		t.Errorf("check wrote to stderr: %q", r.stderr)
	}
	return got, r
}

// plainRun is `sandbox FLAGS -- true` run directly, for comparison.
func plainRun(t *testing.T, env []string, flags ...string) result {
	t.Helper()
	env = append([]string{"SANDBOX_CONFIG=/dev/null"}, env...)
	return sandbox(t, "", env, append(flags, "--", "true")...)
}

func wantStatus(t *testing.T, lines map[string]checkLine, name string, want ...string) {
	t.Helper()
	if l := lines[name]; !slices.Contains(want, l.status) {
		t.Errorf("%s: %s %q, want status %q", name, l.status, l.found, want)
	}
}

func canOpenRW(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	return err == nil
}

func onPath(names ...string) bool {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return false
		}
	}
	return true
}

// Each line of sandbox check agrees with a direct probe of the same thing,
// and the exit status says whether a plain run works.
func TestCheckReportsMachine(t *testing.T) {
	requires(t, NotRoot)
	// No bound on its time here: timings belong to tests/bench, and under
	// the VM job's emulation a check took 6.7 s where it takes ~1 s.
	got, r := runCheck(t)
	run := plainRun(t, nil)
	if (run.code == 0) != (r.code == 0) || (r.code != 0 && r.code != 1) {
		t.Errorf("check exits %d, sandbox -- true exits %d (%s)", r.code, run.code, run.stderr)
	}
	wantStatus(t, got, "run", map[bool]string{true: "ok", false: "FAIL"}[run.code == 0])

	wantStatus(t, got, "userns", map[bool]string{true: "ok", false: "FAIL"}[probes[UserNS]() == nil])
	switch {
	case !onPath("newuidmap", "newgidmap"):
		wantStatus(t, got, "newuidmap", "warn")
	default:
		wantStatus(t, got, "newuidmap", "ok", "FAIL")
	}
	if probes[SubUID]() == nil {
		wantStatus(t, got, "subids", "ok", "warn")
	} else {
		wantStatus(t, got, "subids", "warn")
		if !strings.Contains(got["subids"].found, "no range") {
			t.Errorf("subids: %q", got["subids"].found)
		}
	}
	wantStatus(t, got, "seccomp", "ok")
	wantStatus(t, got, "data-dir", "ok", "warn")
	wantStatus(t, got, "config", "ok")

	overlay := plainRun(t, nil, "--overlay", "kernel")
	if overlay.code == 0 {
		wantStatus(t, got, "overlay", "ok")
	} else {
		wantStatus(t, got, "overlay", "warn", "FAIL")
	}
	switch {
	case !canOpenRW("/dev/fuse"):
		wantStatus(t, got, "fuse", "FAIL")
	case !onPath("fuse-overlayfs"):
		wantStatus(t, got, "fuse", "warn")
	default:
		wantStatus(t, got, "fuse", map[bool]string{true: "ok", false: "FAIL"}[plainRun(t, nil, "--overlay", "fuse").code == 0])
	}
	switch {
	case !onPath("pasta") && !onPath("slirp4netns"):
		wantStatus(t, got, "network", "warn")
	default:
		wantStatus(t, got, "network", map[bool]string{true: "ok", false: "FAIL"}[plainRun(t, nil, "--net", "user").code == 0])
	}
	if probes[UserBus]() == nil {
		wantStatus(t, got, "systemd", "ok", "warn")
		if !strings.Contains(got["systemd"].found, "starts scopes") {
			t.Errorf("systemd: a user manager answers here, but check says %q", got["systemd"].found)
		}
		// What a scope of this manager really gets (a stock user@.service
		// delegates "pids memory cpu" without io: then a warning is right
		// though the host's cgroup2 has io).
		scope := scopeControllers(t)
		all := true
		for _, c := range []string{"cpu", "io", "memory", "pids"} {
			all = all && slices.Contains(scope, c)
		}
		if all != (got["systemd"].status == "ok") {
			t.Errorf("systemd: %s %q; a scope of the user manager gets %q", got["systemd"].status, got["systemd"].found, scope)
		}
	} else {
		wantStatus(t, got, "systemd", "warn")
	}
}

// scopeControllers asks the user manager for a delegated scope, as a limit
// would, and returns the controllers available in it.
func scopeControllers(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes", "--",
		"sh", "-c", `cat "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/cgroup.controllers"`).Output()
	if err != nil {
		t.Fatalf("systemd-run --user --scope: %v", err)
	}
	return strings.Fields(string(out))
}

// pathWithout is a PATH of one directory with links to every program on PATH
// but the ones named; under $HOME, so that the sandbox sees it too (its /tmp is
// its own).
func pathWithout(t *testing.T, drop ...string) string {
	t.Helper()
	dir := workdir(t)
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if slices.Contains(drop, e.Name()) {
				continue
			}
			_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(dir, e.Name())) // the first on PATH wins
		}
	}
	return dir
}

// Without newuidmap a run still works with a single-ID map: the line warns,
// and the exit status stays 0.
func TestCheckWithoutNewuidmap(t *testing.T) {
	requires(t, UserNS, NotRoot)
	got, r := runCheck(t, "PATH="+pathWithout(t, "newuidmap", "newgidmap"))
	wantStatus(t, got, "newuidmap", "warn")
	if !strings.Contains(got["newuidmap"].found, "not on PATH") || !strings.Contains(got["newuidmap"].found, "apt install uidmap") {
		t.Errorf("newuidmap: %q", got["newuidmap"].found)
	}
	wantStatus(t, got, "run", "ok")
	if r.code != 0 {
		t.Errorf("exit %d without newuidmap; want 0 (single-ID map)", r.code)
	}
}

// A user bus address that leads nowhere: the systemd line warns, runs without
// limits still work.
func TestCheckNoUserBus(t *testing.T) {
	requires(t, UserNS, NotRoot)
	nobus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	got, r := runCheck(t, "DBUS_SESSION_BUS_ADDRESS="+nobus)
	wantStatus(t, got, "systemd", "warn")
	if l := got["systemd"]; !strings.Contains(l.found, "no systemd user manager") || !strings.Contains(l.found, "no-bus") {
		t.Errorf("systemd: %q", l.found)
	}
	wantStatus(t, got, "run", "ok")
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
}

// A read-only data directory: no run can keep its layers, so the data-dir and
// run lines FAIL and the exit status is 1.
func TestCheckReadOnlyDataDir(t *testing.T) {
	requires(t, UserNS, NotRoot)
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	got, r := runCheck(t, "XDG_DATA_HOME="+ro)
	if l := got["data-dir"]; !strings.Contains(l.found, ro) || !strings.Contains(l.found, "permission denied") || !strings.Contains(l.found, "XDG_DATA_HOME") {
		t.Errorf("data-dir: %q", l.found)
	}
	// A plain run keeps its layers in memory from Linux 6.6 (issue 15):
	// then it works, and only runs with layers on disk need the directory.
	if feature.MemoryLayer() {
		wantStatus(t, got, "data-dir", "warn")
		wantStatus(t, got, "run", "ok")
		if r := plainRun(t, []string{"XDG_DATA_HOME=" + ro}, "--uid", "0"); r.code != 125 {
			t.Errorf("--uid 0 with a read-only data directory: exit %d, want 125: %s", r.code, r.stderr)
		}
		return
	}
	wantStatus(t, got, "data-dir", "FAIL")
	wantStatus(t, got, "run", "FAIL")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
}

// --json is the same lines as a JSON array.
func TestCheckJSON(t *testing.T) {
	requires(t, NotRoot)
	text, _ := runCheck(t)
	r := sandbox(t, "", []string{"XDG_CONFIG_HOME=" + t.TempDir()}, "check", "--json")
	var got []struct{ Name, Status, Found, Fix string }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json does not parse: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
		if text[c.Name].status != c.Status {
			t.Errorf("%s: text says %s, JSON %s", c.Name, text[c.Name].status, c.Status)
		}
		if c.Status != "ok" && c.Fix == "" {
			t.Errorf("%s: %s without a fix: %q", c.Name, c.Status, c.Found)
		}
	}
	if !slices.Equal(names, checkNames) {
		t.Errorf("JSON names %q", names)
	}
}

// A setup error gets the matching check's finding, on the same line.
func TestDiagnoseHintOnError(t *testing.T) {
	requires(t, UserNS)
	nobus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	r := plainRun(t, []string{"DBUS_SESSION_BUS_ADDRESS=" + nobus}, "--cgroup", "systemd")
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "; hint: systemd: ") ||
		!strings.HasSuffix(strings.TrimSpace(r.stderr), "(see `sandbox check`)") {
		t.Errorf("exit %d, stderr %q; want 125 and one line ending in the hint", r.code, r.stderr)
	}
}

// Without a user manager (a wrong DBUS_SESSION_BUS_ADDRESS), `sandbox check`
// and a run with a limit agree on whether the user's own cgroup can hold the
// limit (issue 21, item 5): the check read cgroup.controllers where the run
// reads cgroup.subtree_control, and said limits would work when they were
// refused.
func TestCheckAgreesWithRunWithoutBus(t *testing.T) {
	requires(t, NotRoot)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}
	got, _ := runCheck(t, env...)
	line := got["systemd"]
	run := plainRun(t, env, "--memory", "256M")
	refused := run.code == 125
	says := strings.Contains(line.found, "--memory") && strings.Contains(line.found, "refused")
	if refused != says {
		t.Errorf("check says %q (%s); a --memory run exits %d: %s", line.found, line.status, run.code, run.stderr)
	}
	if refused && len(strings.Split(strings.TrimSpace(run.stderr), "\n")) != 1 {
		t.Errorf("a refused --memory run says more than one line:\n%s", run.stderr)
	}
}
