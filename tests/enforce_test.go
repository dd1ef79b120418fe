package tests

// Enforcement: the limits hold where the controllers are there (a normal
// systemd machine, and CI's VM job, tests/vm/enforce.sh). On a host whose
// cgroup2 lacks a controller they skip, unless SANDBOX_TESTS_ENFORCE=1.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// report is what --report wrote.
type report struct {
	Wall         float64 `json:"wall_seconds"`
	User         float64 `json:"cpu_user_seconds"`
	Sys          float64 `json:"cpu_system_seconds"`
	MemoryPeak   *uint64 `json:"memory_peak_bytes"`
	MemorySource string  `json:"memory_peak_source"`
	TasksPeak    *uint64 `json:"tasks_peak"`
	OOMKills     uint64  `json:"oom_kills"`
	Status       int     `json:"exit_status"`
	FromCgroup   bool    `json:"from_cgroup"`
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read --report: %v", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("parse --report %s: %v", b, err)
	}
	return r
}

func peak(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

const mib = 1 << 20

// The memory limit kills a hog, and sandbox says so in every run: systemd
// removes the emptied scope at once, and the OOM line and oom_kills used to be
// lost in most runs (issue 16). Ten runs.
func TestEnforceMemoryOOM(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "memory")
	dir := workdir(t)
	rep := filepath.Join(dir, "r.json")
	var pids []int
	for i := range 10 {
		start := time.Now()
		r := sandbox(t, dir, nil, "--memory", "32M", "--memory-swap", "0", "--stats", "--report", rep,
			"--", "sh", "-c", "x=a; while :; do x=$x$x; done")
		pids = append(pids, r.pid)
		got := readReport(t, rep)
		if r.code != 137 || !strings.Contains(r.stderr, "sandbox: command killed: out of memory (limit 32M)\n") ||
			!strings.Contains(r.stderr, "oom kills ") || got.OOMKills < 1 || !got.FromCgroup {
			t.Errorf("run %d: exit %d after %v, oom_kills %d, from_cgroup %v, stderr %q; want 137, the OOM line and oom_kills >= 1",
				i+1, r.code, time.Since(start).Round(time.Millisecond), got.OOMKills, got.FromCgroup, r.stderr)
		}
		if p := peak(got.MemoryPeak); p > 32*mib || p < 16*mib || got.MemorySource != "cgroup" {
			t.Errorf("run %d: memory_peak_bytes %d from %q; want the scope's, at most 32M", i+1, p, got.MemorySource)
		}
	}
	noUnitsLeft(t, pids...)
}

// What the command writes to its /tmp (a tmpfs) is memory, and counts.
func TestEnforceMemoryTmp(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "memory")
	dir := workdir(t)
	rep := filepath.Join(dir, "r.json")
	r := sandbox(t, dir, nil, "--memory", "64M", "--memory-swap", "0", "--report", rep,
		"--", "sh", "-c", "head -c 40M /dev/zero >/tmp/f")
	if got := readReport(t, rep); r.code != 0 || peak(got.MemoryPeak) < 40*mib {
		t.Errorf("40M into /tmp under --memory 64M: exit %d, memory peak %d, stderr %q; want 0 and a peak of at least 40M",
			r.code, peak(got.MemoryPeak), r.stderr)
	}
	r = sandbox(t, dir, nil, "--memory", "32M", "--memory-swap", "0", "--report", rep,
		"--", "sh", "-c", "head -c 64M /dev/zero >/tmp/f && echo all written")
	if got := readReport(t, rep); strings.Contains(r.stdout, "all written") || got.OOMKills < 1 {
		t.Errorf("64M into /tmp under --memory 32M: exit %d, oom_kills %d, stdout %q, stderr %q; want the writer killed",
			r.code, got.OOMKills, r.stdout, r.stderr)
	}
}

// --memory-swap: a process larger than --memory lives on in swap when
// --memory-swap leaves room, and is killed with --memory-swap 0. Needs swap
// (the VM job has some).
func TestEnforceMemorySwap(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "memory")
	requiresSwap(t, 128*mib)
	// tail -n 1 keeps a line without a newline in memory: 48M here, 16M of
	// it in swap (swapping is slow under emulation).
	dir := workdir(t)
	rep := filepath.Join(dir, "r.json")
	hog := []string{"sh", "-c", "head -c 48M /dev/zero | tail -n 1 >/dev/null && echo held"}
	r := sandbox(t, dir, nil, append([]string{"--memory", "32M", "--memory-swap", "256M", "--"}, hog...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "held" {
		t.Errorf("48M under --memory 32M --memory-swap 256M: exit %d, stdout %q, stderr %q; want it done in swap",
			r.code, r.stdout, r.stderr)
	}
	// sh exits 137 when tail is killed; the OOM line is for a command that
	// was itself killed, so here only the report tells.
	r = sandbox(t, dir, nil, append([]string{"--memory", "32M", "--memory-swap", "0", "--report", rep, "--"}, hog...)...)
	if got := readReport(t, rep); r.code != 137 || got.OOMKills < 1 || strings.Contains(r.stdout, "held") {
		t.Errorf("48M under --memory 32M --memory-swap 0: exit %d, oom_kills %d, stdout %q, stderr %q; want tail killed (137)",
			r.code, got.OOMKills, r.stdout, r.stderr)
	}
}

// requiresSwap skips (fails in must-work mode) without that much free swap.
func requiresSwap(t *testing.T, bytes uint64) {
	t.Helper()
	b, _ := os.ReadFile("/proc/meminfo")
	var free uint64
	for _, l := range lines(string(b)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "SwapFree:" {
			free, _ = strconv.ParseUint(f[1], 10, 64)
			free *= 1024
		}
	}
	if free < bytes {
		msg := fmt.Sprintf("requires %d MiB of free swap, have %d MiB", bytes/mib, free/mib)
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal(msg + " (SANDBOX_TESTS_MUST_WORK=1)")
		}
		t.Skip(msg)
	}
}

// A fork bomb is held at --pids, the host stays responsive meanwhile, and
// every process of it ends with the sandbox. Python, because dash ends its
// script at the first failed fork.
func TestEnforcePids(t *testing.T) {
	requires(t, UserNS, UserBus, Python3)
	requiresControllers(t, "pids")
	dir := workdir(t)
	rep := filepath.Join(dir, "r.json")
	mark := fmt.Sprintf("sbbomb-%d", time.Now().UnixNano())
	// Every process forks until 4 s have passed; the first one counts the
	// processes inside once, at 3 s.
	bomb := "import os, time\n" +
		"first, counted = os.getpid(), False\n" +
		"open('started', 'w').close()\n" +
		"start = time.time()\n" +
		"while time.time() < start + 4:\n" +
		"    if os.getpid() == first and not counted and time.time() > start + 3:\n" +
		"        print('tasks', sum(p.isdigit() for p in os.listdir('/proc')), flush=True)\n" +
		"        counted = True\n" +
		"    try:\n" +
		"        os.fork()\n" +
		"    except OSError:\n" +
		"        time.sleep(0.01)\n"
	cmd := exec.Command(bin, "--pids", "20", "--report", rep, "--", "python3", "-c", bomb, mark)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the bomb to start")
	// The host: a process starts and ends promptly while the bomb runs.
	var slowest time.Duration
	for range 5 {
		start := time.Now()
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(200 * time.Millisecond)
	}
	if slowest > 2*time.Second {
		t.Errorf("the host's `true` took %v during the bomb", slowest)
	}
	err := cmd.Wait()
	got := readReport(t, rep)
	t.Logf("sandbox: %v; %s; tasks_peak %d; slowest host exec %v", err, strings.TrimSpace(out.String()), peak(got.TasksPeak), slowest)
	if got.TasksPeak == nil || *got.TasksPeak != 20 {
		t.Errorf("tasks_peak %d, want 20: the bomb reaches the limit and no further", peak(got.TasksPeak))
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "tasks %d", &n); err != nil || n > 20 {
		t.Errorf("processes inside after the bomb: %q; want at most 20", out.String())
	}
	// Nothing of it outlives the sandbox.
	for _, pid := range pidsWithArg(t, mark) {
		t.Errorf("process %d of the bomb is left after the sandbox exited", pid)
	}
	noUnitsLeft(t, cmd.Process.Pid)
}

// pidsWithArg lists the host's processes with arg among their arguments.
func pidsWithArg(t *testing.T, arg string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// --cpus 0.5 holds a spinner to half a CPU (±20 %), measured inside over a
// window that starts once the spinner runs: set-up time under emulation does
// not count.
func TestEnforceCPU(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "cpu")
	script := `while :; do :; done &
sleep 0.5
u0=$(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat); t0=$(date +%s%N)
sleep 4
u1=$(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat); t1=$(date +%s%N)
kill $!
echo "$((u1 - u0)) $(((t1 - t0) / 1000))"`
	r := sandbox(t, "", nil, "--cpus", "0.5", "--", "sh", "-c", script)
	var used, wall float64
	if _, err := fmt.Sscan(r.stdout, &used, &wall); err != nil || r.code != 0 || wall <= 0 {
		t.Fatalf("--cpus 0.5: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	share := used / wall
	t.Logf("--cpus 0.5: %.0f µs of CPU in %.0f µs: %.2f CPUs", used, wall, share)
	if share < 0.4 || share > 0.6 {
		t.Errorf("--cpus 0.5: the spinner got %.2f CPUs, want 0.5 ± 20 %%", share)
	}
}

// --io-weight is set on the scope: systemd's property and the cgroup's file.
func TestEnforceIOWeight(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "io")
	dir := workdir(t)
	cmd := exec.Command(bin, "--io-weight", "300", "--", "sh", "-c", "touch started; sleep 30")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the command to start")
	units := sandboxUnits(t, cmd.Process.Pid)
	if len(units) != 1 {
		t.Fatalf("want one sandbox scope, got %q", units)
	}
	props, err := exec.Command("systemctl", "--user", "show", "-p", "IOWeight", "-p", "ControlGroup", units[0]).Output()
	if err != nil || !strings.Contains(string(props), "IOWeight=300\n") {
		t.Errorf("scope %s: %q, %v; want IOWeight=300", units[0], props, err)
	}
	cg := ""
	for _, l := range lines(string(props)) {
		if v, ok := strings.CutPrefix(l, "ControlGroup="); ok {
			cg = v
		}
	}
	b, err := os.ReadFile(filepath.Join(cgroup2Root(), cg, "io.weight"))
	if err != nil || !strings.Contains(string(b), "default 300") {
		t.Errorf("io.weight of %s: %q, %v; want default 300", cg, b, err)
	}
}

// --stats and --report give the scope's real figures: memory.peak, pids.peak
// and cpu.stat, not init's rusage.
func TestEnforceStats(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "memory", "pids", "cpu")
	dir := workdir(t)
	rep := filepath.Join(dir, "r.json")
	script := `for i in 1 2 3 4 5; do sleep 2 & done
head -c 24M /dev/zero | tail -n 1 >/dev/null
i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done
wait`
	r := sandbox(t, dir, nil, "--memory", "256M", "--pids", "100", "--stats", "--report", rep, "--", "sh", "-c", script)
	got := readReport(t, rep)
	t.Logf("stats: %s", strings.TrimSpace(r.stderr))
	if r.code != 0 || !got.FromCgroup || got.MemorySource != "cgroup" || !strings.Contains(r.stderr, "peak memory ") {
		t.Errorf("exit %d, from_cgroup %v, memory source %q, stderr %q; want the scope's figures", r.code, got.FromCgroup, got.MemorySource, r.stderr)
	}
	if p := peak(got.MemoryPeak); p < 24*mib || p > 256*mib {
		t.Errorf("memory_peak_bytes %d, want 24M (tail's line) to 256M", p)
	}
	// sh, 5 sleeps, head, tail, and init's threads.
	if p := peak(got.TasksPeak); p < 8 || p > 100 {
		t.Errorf("tasks_peak %d, want 8 to 100", p)
	}
	if cpu := got.User + got.Sys; cpu < 0.05 || cpu > got.Wall*2 {
		t.Errorf("cpu %.3f s in %.3f s of wall time, want at least the loop's", cpu, got.Wall)
	}
}

// A daemon (double fork, new session) stays in the scope, and dies with the
// sandbox.
func TestEnforceDaemonInScope(t *testing.T) {
	requires(t, UserNS, UserBus)
	dir := workdir(t)
	secs := strconv.Itoa(3000 + int(time.Now().UnixNano()%1000))
	cmd := exec.Command(bin, "--cgroup", "systemd", "--", "sh", "-c",
		"(setsid sleep "+secs+" >/dev/null 2>&1 &); touch started; sleep 2")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }, "the command to start")
	var daemon []int
	waitFor(t, func() bool { daemon = pidsWithArg(t, secs); return len(daemon) == 1 }, "the daemon to start")
	units := sandboxUnits(t, cmd.Process.Pid)
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", daemon[0]))
	if len(units) != 1 || !strings.Contains(string(cg), "/"+units[0]+"/") {
		t.Errorf("daemon %d is in cgroup %q, want inside the scope %q", daemon[0], cg, units)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	waitFor(t, func() bool { return len(pidsWithArg(t, secs)) == 0 }, "the daemon to end with the sandbox")
	noUnitsLeft(t, cmd.Process.Pid)
}

// The limit holds from the command's first instruction: init starts the
// command only once the scope holds it, so what the command forks first is
// inside too. If it ran outside for a moment, its first process would stay
// outside (systemd moves only init), and the 64M would fit.
func TestEnforceLimitFromFirstInstruction(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresControllers(t, "memory")
	r := sandbox(t, "", nil, "--memory", "32M", "--memory-swap", "0", "--", "cat", "/proc/self/cgroup")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "0::/" {
		t.Errorf("the command's own cgroup: exit %d, %q; want 0::/ (the sandbox's leaf)", r.code, r.stdout)
	}
	r = sandbox(t, "", nil, "--memory", "32M", "--memory-swap", "0", "--", "sh", "-c", "head -c 64M /dev/zero | tail -n 1 >/dev/null")
	if r.code != 137 {
		t.Errorf("64M as the first thing under --memory 32M: exit %d, stderr %q; want 137", r.code, r.stderr)
	}
}
