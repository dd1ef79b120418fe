package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sandboxUnits lists the user manager's sandbox-* units of the sandbox
// processes pids (a scope is named sandbox-PID-*): other packages' tests run
// beside these ones, with scopes of their own.
func sandboxUnits(t *testing.T, pids ...int) []string {
	t.Helper()
	if len(pids) == 0 {
		t.Fatal("sandboxUnits: no sandbox PID given")
	}
	out, err := exec.Command("systemctl", "--user", "list-units", "--all", "--plain", "--no-legend", "sandbox-*").Output()
	if err != nil {
		t.Fatalf("systemctl --user list-units: %v", err)
	}
	var units []string
	for _, l := range lines(string(out)) {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		for _, pid := range pids {
			if strings.HasPrefix(f[0], fmt.Sprintf("sandbox-%d-", pid)) {
				units = append(units, f[0])
			}
		}
	}
	return units
}

// noUnitsLeft waits until the sandbox processes pids have no unit left in
// the user manager.
func noUnitsLeft(t *testing.T, pids ...int) {
	t.Helper()
	waitFor(t, func() bool { return len(sandboxUnits(t, pids...)) == 0 }, "no sandbox-* unit of the test's left in the user manager")
}

// A scope holds the sandbox: Delegate=yes reads back over D-Bus, the command
// sits in it, its cgroup namespace hides the host's tree, and nothing is left
// after it ends.
func TestCgroupScope(t *testing.T) {
	requires(t, UserNS, UserBus)
	dir := workdir(t)
	cmd := exec.Command(bin, "--cgroup", "systemd", "--", "sh", "-c",
		"cat /proc/self/cgroup; ls /sys/fs/cgroup | head -3; echo > /sys/fs/cgroup/cgroup.procs 2>/dev/null && echo writable; touch started; sleep 1")
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the command to start")
	units := sandboxUnits(t, cmd.Process.Pid)
	if len(units) != 1 || !strings.HasSuffix(units[0], ".scope") {
		_ = cmd.Process.Kill()
		t.Fatalf("want one sandbox-*.scope while running, got %q", units)
	}
	props, err := exec.Command("systemctl", "--user", "show", "-p", "Delegate", "-p", "ControlGroup", units[0]).Output()
	if err != nil || !strings.Contains(string(props), "Delegate=yes") {
		t.Errorf("scope %s: %s %v; want Delegate=yes", units[0], props, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	if !contains(lines(out.String()), "0::/") {
		t.Errorf("/proc/self/cgroup inside lacks 0::/ (a cgroup namespace rooted at the sandbox):\n%s", out.String())
	}
	if strings.Contains(out.String(), "app.slice") || strings.Contains(out.String(), "user.slice") || strings.Contains(out.String(), "writable") {
		t.Errorf("inside sees the host's cgroup tree or may write it:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "cgroup.") {
		t.Errorf("/sys/fs/cgroup inside is not the sandbox's cgroup2 tree:\n%s", out.String())
	}
	noUnitsLeft(t, cmd.Process.Pid)
	cg := strings.TrimPrefix(strings.TrimSpace(strings.Split(string(props), "\n")[1]), "ControlGroup=")
	if cg != "" {
		if _, err := os.Stat(filepath.Join(cgroup2Root(), cg)); err == nil {
			t.Errorf("cgroup %s left behind", cg)
		}
	}
}

// A limit that the cgroup cannot enforce stops the run before the command
// starts (never silently unlimited), naming what is missing and the fix.
func TestCgroupLimitRefused(t *testing.T) {
	requires(t, UserNS, UserBus)
	dir := workdir(t)
	// Which controllers does a delegated scope get here?
	probe := sandbox(t, dir, nil, "--cgroup", "systemd", "--", "cat", "/sys/fs/cgroup/cgroup.controllers")
	have := strings.Fields(probe.stdout)
	pids := []int{probe.pid}
	for _, c := range []struct{ flag, val, ctrl string }{
		{"--memory", "64M", "memory"}, {"--pids", "50", "pids"}, {"--cpus", "0.5", "cpu"}, {"--io-weight", "100", "io"},
	} {
		if contains(have, c.ctrl) {
			continue // delegated here: enforcement tests cover it
		}
		r := sandbox(t, dir, nil, c.flag, c.val, "--", "touch", "ran")
		pids = append(pids, r.pid)
		if r.code != 125 || !strings.Contains(r.stderr, c.ctrl) || len(lines(r.stderr)) != 1 {
			t.Errorf("%s %s without the %s controller: exit %d, stderr %q; want 125 and one line naming it", c.flag, c.val, c.ctrl, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
			t.Fatalf("%s: the command ran although its limit could not be enforced", c.flag)
		}
	}
	noUnitsLeft(t, pids...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCgroupNoManager(t *testing.T) {
	requires(t, UserNS)
	noBus := []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus", "XDG_RUNTIME_DIR=/nonexistent"}
	r := sandbox(t, "", noBus, "--pids", "10", "--", "true")
	// The way out named is one that works: --cgroup none with a limit is
	// refused, so it is not offered.
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "no systemd user manager") || !strings.Contains(r.stderr, "--pids=") ||
		strings.Contains(r.stderr, "--cgroup none") {
		t.Errorf("a limit without a user manager: exit %d, stderr %q; want 125 and one line naming --pids=", r.code, r.stderr)
	}
	if r := sandbox(t, "", noBus, "--pids", "10", "--pids=", "--", "true"); r.code != 0 {
		t.Errorf("--pids= after --pids 10 (as after a profile's): exit %d, stderr %q; want the limit cleared", r.code, r.stderr)
	}
	// No limit asked: no cgroup needed, no D-Bus touched.
	if r := sandbox(t, "", noBus, "--", "true"); r.code != 0 {
		t.Errorf("no limit, no manager: exit %d, stderr %q", r.code, r.stderr)
	}
}

// SIGKILL of sandbox: init dies with it, the scope empties and systemd removes it.
func TestCgroupCleanupAfterSIGKILL(t *testing.T) {
	requires(t, UserNS, UserBus)
	dir := workdir(t)
	cmd := exec.Command(bin, "--cgroup", "systemd", "--", "sh", "-c", "touch started; sleep 60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the command to start")
	if len(sandboxUnits(t, cmd.Process.Pid)) != 1 {
		t.Fatalf("no scope while running")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	noUnitsLeft(t, cmd.Process.Pid)
}

func TestStatsAndReport(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	report := filepath.Join(dir, "report.json")
	r := sandbox(t, dir, nil, "--stats", "--report", report, "--", "sh", "-c", "exit 4")
	if r.code != 4 || !strings.HasPrefix(r.stderr, "sandbox: stats: wall ") || len(lines(r.stderr)) != 1 {
		t.Errorf("--stats: exit %d, stderr %q", r.code, r.stderr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Wall   float64 `json:"wall_seconds"`
		Status int     `json:"exit_status"`
		Peak   *uint64 `json:"memory_peak_bytes"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Status != 4 || rep.Wall <= 0 || rep.Wall > 30 || rep.Peak == nil {
		t.Errorf("report %s: %+v %v", b, rep, err)
	}
}
