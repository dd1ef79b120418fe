package systemdcgroup

// These tests talk to the real systemd user manager (no mock D-Bus). On a
// host without one, run them as root through tests/testenv.sh:
//
//	tests/testenv.sh sbdev -- go test ./systemdcgroup/ -v

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// userConn connects to the user manager, or skips (fails with
// SANDBOX_TESTS_MUST_WORK=1) when there is none.
func userConn(t *testing.T) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx)
	if err == nil {
		// A session bus from dbus-launch answers without systemd on it.
		err = c.manager.CallWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0).Err
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		msg := "requires a systemd user manager on D-Bus: " + err.Error()
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startSleep starts a `sleep 30` to put in a scope, killed at cleanup.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func scopeName() string {
	return fmt.Sprintf("sandbox-test-%d-%d.scope", os.Getpid(), time.Now().UnixNano())
}

// stopAtCleanup stops s if the test ends before it does; t.Context is done
// by then, hence a fresh one.
func stopAtCleanup(t *testing.T, s *Scope) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func TestStartScope(t *testing.T) {
	c := userConn(t)
	ctx := t.Context()
	sleep := startSleep(t)
	pid := sleep.Process.Pid
	l := Limits{MemoryMax: 64 << 20, MemorySwapMax: 32 << 20, SwapSet: true, CPUQuota: 1500 * time.Millisecond, TasksMax: 50, IOWeight: 200}
	name := scopeName()

	start := time.Now()
	s, err := c.StartScope(ctx, name, "sandbox test", pid, l)
	if err != nil {
		t.Fatalf("StartScope: %v", err)
	}
	t.Logf("StartScope took %v; scope %s at %s", time.Since(start), s.Name(), s.Path())
	stopAtCleanup(t, s)

	// The limits, as systemd stored them.
	for _, p := range []struct {
		iface, name string
		want        any
	}{
		{scopeIface, "MemoryMax", uint64(64 << 20)},
		{scopeIface, "MemorySwapMax", uint64(32 << 20)},
		{scopeIface, "CPUQuotaPerSecUSec", uint64(1500000)},
		{scopeIface, "TasksMax", uint64(50)},
		{scopeIface, "IOWeight", uint64(200)},
		{scopeIface, "Delegate", true},
		{unitIface, "CollectMode", "inactive-or-failed"},
		{unitIface, "Description", "sandbox test"},
		{unitIface, "ActiveState", "active"},
	} {
		v, err := s.Property(ctx, p.iface, p.name)
		if err != nil {
			t.Errorf("Property: %v", err)
			continue
		}
		if v.Value() != p.want {
			t.Errorf("%s = %#v, want %#v", p.name, v.Value(), p.want)
		}
	}

	// The sleep is in the scope's cgroup, as seen on the host.
	if got := procCgroup(t, pid); got != s.Path() {
		t.Errorf("sleep is in cgroup %s, want the scope's %s", got, s.Path())
	}
	have, err := s.Controllers()
	if err != nil {
		t.Errorf("Controllers: %v", err)
	}
	missing := MissingControllers(l.Controllers(), have)
	t.Logf("scope controllers: %q; missing for the limits: %q", have, missing)
	err = s.CheckControllers(l)
	t.Logf("CheckControllers: %v", err)
	var mce *MissingControllersError
	if len(missing) == 0 && err != nil || len(missing) > 0 && (!errors.As(err, &mce) || !slices.Equal(mce.Missing, missing)) {
		t.Errorf("CheckControllers = %v, want the missing %q", err, missing)
	}
	if err := s.CheckControllers(Limits{}); err != nil {
		t.Errorf("CheckControllers(no limits) = %v", err)
	}

	// Delegate=yes must hand the scope to us: init makes a leaf below it and
	// moves itself there. Do exactly that with the sleep.
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := unix.Faccessat(unix.AT_FDCWD, filepath.Join(s.Path(), f), unix.W_OK, unix.AT_EACCESS); err != nil {
			t.Errorf("scope %s is not writable by uid %d: %v", filepath.Join(s.Path(), f), os.Geteuid(), err)
		}
	}
	leaf := filepath.Join(s.Path(), "init")
	if err := os.Mkdir(leaf, 0o755); err != nil {
		t.Fatalf("make leaf cgroup: %v", err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		t.Fatalf("move sleep into leaf cgroup: %v", err)
	}
	if got := procCgroup(t, pid); got != leaf {
		t.Errorf("sleep is in cgroup %s, want the leaf %s", got, leaf)
	}

	st, err := ReadStats(s.Path())
	if err != nil {
		t.Errorf("ReadStats: %v", err)
	}
	t.Logf("stats: %+v", st)
	if !st.Have["cpu.stat"] {
		t.Error("no cpu.stat in the scope: cgroup2 always has it")
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, c, s)
	waitErr := make(chan error, 1)
	go func() { waitErr <- sleep.Wait() }()
	select {
	case err := <-waitErr:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
			t.Errorf("sleep ended with %v, want killed by a signal", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("sleep still runs 5s after Stop")
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v, want nil for a scope that is gone", err)
	}
}

// procCgroup returns the host directory of pid's cgroup2 cgroup.
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	cg, ok := unifiedCgroup(string(b))
	if !ok {
		t.Fatalf("no cgroup2 line in /proc/%d/cgroup: %q", pid, b)
	}
	m, err := findCgroup2()
	if err != nil {
		t.Fatal(err)
	}
	return m.HostPath(cg)
}

// checkGone waits a little for systemd to collect the unit and remove its
// cgroup: garbage collection runs after the stop job ends.
func checkGone(t *testing.T, c *Conn, s *Scope) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var unit dbus.ObjectPath
		err := c.manager.CallWithContext(t.Context(), managerIface+".GetUnit", 0, s.Name()).Store(&unit)
		unitGone := dbusErrorName(err) == errNoSuchUnit
		if err == nil {
			if v, err := s.Property(t.Context(), unitIface, "LoadState"); err == nil && v.Value() == "not-found" {
				unitGone = true
			}
		}
		_, statErr := os.Stat(s.Path())
		dirGone := errors.Is(statErr, os.ErrNotExist)
		if unitGone && dirGone {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after Stop: unit gone %v (GetUnit: %v), cgroup dir gone %v (%v)", unitGone, err, dirGone, statErr)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartScopeBadName(t *testing.T) {
	c := userConn(t)
	pid := startSleep(t).Process.Pid
	for _, name := range []string{"bad/name.scope", ".scope", "bad\x00.scope", "not-a-scope.service"} {
		s, err := c.StartScope(t.Context(), name, "bad", pid, Limits{})
		if err == nil {
			stopAtCleanup(t, s)
			t.Errorf("StartScope(%q) succeeded, want an error", name)
			continue
		}
		t.Logf("StartScope(%q): %v", name, err)
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, fmt.Sprintf("start scope %q", name)) {
			t.Errorf("StartScope(%q) error %q: want one line naming the scope", name, msg)
		}
	}
}

func TestStartScopeNameTaken(t *testing.T) {
	c := userConn(t)
	name := scopeName()
	s, err := c.StartScope(t.Context(), name, "first", startSleep(t).Process.Pid, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, s)
	// The name is held by a live scope: reset-failed cannot help, and the
	// retry must fail cleanly rather than loop.
	_, err = c.StartScope(t.Context(), name, "second", startSleep(t).Process.Pid, Limits{})
	t.Logf("second StartScope: %v", err)
	if dbusErrorName(err) != errUnitExists {
		t.Errorf("second StartScope with the same name: %v, want %s", err, errUnitExists)
	}
}

func TestStartScopeDeadPID(t *testing.T) {
	c := userConn(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	s, err := c.StartScope(t.Context(), scopeName(), "dead", cmd.Process.Pid, Limits{})
	if err == nil {
		stopAtCleanup(t, s)
		t.Fatal("StartScope with a reaped pid succeeded, want an error")
	}
	t.Logf("StartScope(reaped pid): %v", err)
}

// TestStartScopeLatency measures what a sandbox start pays for its scope,
// and what its end pays: Stop of a live scope (SIGTERM, wait for the cgroup
// to empty) and of one whose processes have exited, the usual case.
func TestStartScopeLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	userConn(t)
	const n = 21
	var connects, starts, stopsLive, stopsExited []time.Duration
	for i := range 2 * n {
		t0 := time.Now()
		c, err := Connect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		sleep := startSleep(t)
		t2 := time.Now()
		s, err := c.StartScope(t.Context(), scopeName(), "latency", sleep.Process.Pid, Limits{TasksMax: 50})
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		live := i%2 == 0
		if !live {
			_ = sleep.Process.Kill()
			_ = sleep.Wait()
			t3 = time.Now()
		}
		if err := s.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		c.Close()
		connects, starts = append(connects, t1.Sub(t0)), append(starts, t3.Sub(t2))
		if live {
			stopsLive = append(stopsLive, t4.Sub(t3))
		} else {
			stopsExited = append(stopsExited, t4.Sub(t3))
		}
	}
	for _, m := range []struct {
		what string
		d    []time.Duration
	}{{"Connect", connects}, {"StartScope", starts}, {"Stop (live)", stopsLive}, {"Stop (exited)", stopsExited}} {
		slices.Sort(m.d)
		t.Logf("%s over %d calls: min %v median %v max %v", m.what, len(m.d), m.d[0], m.d[len(m.d)/2], m.d[len(m.d)-1])
	}
}

func TestConnectNoBus(t *testing.T) {
	_, err := connectFirst(t.Context(), []string{"unix:path=/nonexistent/bus", "bogus"})
	if !errors.Is(err, ErrNoManager) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "dbus-user-session") {
		t.Errorf("connect error %q: want one line wrapping ErrNoManager with the fix", err)
	}
	t.Logf("connect: %v", err)
}

func TestHostCgroups(t *testing.T) {
	have, err := HostControllers()
	t.Logf("cgroup2 root controllers: %q (%v)", have, err)
	dir, ok := OwnCgroup()
	t.Logf("OwnCgroup: %s, delegated to us: %v", dir, ok)
	if ok {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			t.Errorf("OwnCgroup %s ok but: %v", dir, err)
		}
	}
}

// A kept scope outlives the process it was made for: its cgroup and counters
// are there after that process has exited (systemd removes an empty scope at
// once), and Stop removes both and ends the keeper.
func TestKeptScopeOutlivesItsProcess(t *testing.T) {
	c := userConn(t)
	ctx := t.Context()
	k, err := StartKeeper()
	if err != nil {
		t.Fatalf("StartKeeper: %v", err)
	}
	sleep := startSleep(t)
	s, err := c.StartKeptScope(ctx, scopeName(), "kept", sleep.Process.Pid, Limits{}, k)
	if err != nil {
		k.Release()
		t.Fatalf("StartKeptScope: %v", err)
	}
	stopAtCleanup(t, s)
	if got, want := procCgroup(t, k.Pid()), filepath.Join(s.Path(), keepLeaf); got != want {
		t.Errorf("keeper in %s, want %s", got, want)
	}
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	// Long enough for systemd to have stopped an empty scope.
	time.Sleep(500 * time.Millisecond)
	if v, err := s.Property(ctx, unitIface, "ActiveState"); err != nil || v.Value() != "active" {
		t.Errorf("scope after its process exited: ActiveState %v (%v), want active", v, err)
	}
	st, err := s.Stats()
	if err != nil || !st.Have["cpu.stat"] {
		t.Errorf("Stats after the process exited: %+v, %v; want cpu.stat read", st, err)
	}
	if st.Have["pids.peak"] && st.PidsPeak != 1 {
		t.Errorf("pids.peak without the keeper = %d, want 1 (the sleep)", st.PidsPeak)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, c, s)
	if err := unix.Kill(k.Pid(), 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("keeper %d after Stop: kill 0 = %v, want ESRCH", k.Pid(), err)
	}
}
