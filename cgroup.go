package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sandbox/systemdcgroup"
)

// CgroupFlags are the resource limits of `sandbox run`.
type CgroupFlags struct {
	Memory     string `help:"Memory limit (MemoryMax), e.g. 512M, 2G, 1.5G." placeholder:"SIZE" group:"Limits (cgroup v2 via your systemd user manager)"`
	MemorySwap string `help:"Swap limit (MemorySwapMax)." placeholder:"SIZE" group:"Limits (cgroup v2 via your systemd user manager)"`
	CPUs       string `name:"cpus" help:"CPU limit in CPUs (CPUQuota), e.g. 0.5, 2." placeholder:"N.N" group:"Limits (cgroup v2 via your systemd user manager)"`
	Pids       int64  `default:"-1" help:"Most tasks (processes and threads) at once (TasksMax)." placeholder:"N" group:"Limits (cgroup v2 via your systemd user manager)"`
	IOWeight   int64  `name:"io-weight" default:"-1" help:"IO weight, 1-10000 (IOWeight)." placeholder:"N" group:"Limits (cgroup v2 via your systemd user manager)"`
	Cgroup     string `enum:"auto,systemd,none" default:"auto" help:"Cgroup: systemd (always a scope of your systemd user manager), none, auto (a scope when a limit asks for one)." group:"Limits (cgroup v2 via your systemd user manager)"`
	Stats      bool   `help:"Print one line of resource use at exit." group:"Limits (cgroup v2 via your systemd user manager)"`
	Report     string `help:"Write resource use and exit status as JSON to FILE." placeholder:"FILE" type:"path" group:"Limits (cgroup v2 via your systemd user manager)"`

	limits systemdcgroup.Limits
}

// validate parses the limits; kong calls RunCmd.Validate, which calls this.
func (c *CgroupFlags) validate() error {
	var err error
	if c.Memory != "" {
		if c.limits.MemoryMax, err = systemdcgroup.ParseSize(c.Memory); err != nil {
			return fmt.Errorf("--memory %w", err)
		}
	}
	if c.MemorySwap != "" {
		if c.limits.MemorySwapMax, err = systemdcgroup.ParseSize(c.MemorySwap); err != nil {
			return fmt.Errorf("--memory-swap %w", err)
		}
		c.limits.SwapSet = true // 0 is no swap: dropping it left swap unlimited
	}
	if c.CPUs != "" {
		if c.limits.CPUQuota, err = systemdcgroup.ParseCPUs(c.CPUs); err != nil {
			return fmt.Errorf("--cpus %w", err)
		}
	}
	// An explicit 0 would mean "no limit" to systemd: refuse it rather than
	// run unlimited when a limit was asked for.
	for _, z := range []struct {
		flag string
		set  bool
	}{{"--memory", c.Memory != "" && c.limits.MemoryMax == 0}, {"--pids", c.Pids == 0}, {"--io-weight", c.IOWeight == 0}} {
		if z.set {
			return fmt.Errorf("%s 0: a limit of 0 is no limit; give a value above 0, or none: %s= clears it", z.flag, z.flag)
		}
	}
	if c.Pids < -1 || c.IOWeight < -1 {
		return fmt.Errorf("--pids and --io-weight take a positive number")
	}
	if c.Pids > 0 {
		c.limits.TasksMax = uint64(c.Pids)
	}
	if c.IOWeight > 0 {
		c.limits.IOWeight = uint64(c.IOWeight)
	}
	if err := c.limits.Validate(); err != nil {
		return err
	}
	if c.Cgroup == "none" && c.limits.Any() {
		it := "it"
		if len(c.setLimits()) > 1 {
			it = "them"
		}
		return fmt.Errorf("--cgroup none with %s: a limit needs a cgroup; drop --cgroup none, or the limit (%s clears %s, a profile's too)",
			strings.Join(c.setLimits(), " "), c.clearLimits(), it)
	}
	return nil
}

// setLimits are the limit flags given, as typed: ["--memory 1G", "--pids 10"].
func (c *CgroupFlags) setLimits() []string {
	var out []string
	for _, f := range []struct {
		name, v string
		set     bool
	}{
		{"--memory", c.Memory, c.Memory != ""}, {"--memory-swap", c.MemorySwap, c.MemorySwap != ""},
		{"--cpus", c.CPUs, c.CPUs != ""}, {"--pids", fmt.Sprint(c.Pids), c.Pids > 0},
		{"--io-weight", fmt.Sprint(c.IOWeight), c.IOWeight > 0},
	} {
		if f.set {
			out = append(out, f.name+" "+f.v)
		}
	}
	return out
}

// clearLimits is what clears the limits given: "--memory= --pids=".
func (c *CgroupFlags) clearLimits() string {
	var out []string
	for _, l := range c.setLimits() {
		name, _, _ := strings.Cut(l, " ")
		out = append(out, name+"=")
	}
	return strings.Join(out, " ")
}

// withoutScope is the other way out when no scope can be made: run without
// the limits asked for, or, when none was, without --cgroup systemd.
func (c *CgroupFlags) withoutScope() string {
	if clear := c.clearLimits(); clear != "" {
		return "or run without limits: " + clear + " (a profile's too)"
	}
	return "or run with --cgroup auto (no cgroup when no limit is asked for)"
}

// wantScope says whether this run gets a systemd scope: only when asked, so
// the default start-up never talks D-Bus.
func (c *CgroupFlags) wantScope() bool {
	return c.Cgroup == "systemd" || (c.Cgroup == "auto" && c.limits.Any())
}

// scopeRun is the cgroup side of one run, in the parent.
type scopeRun struct {
	limits systemdcgroup.Limits
	desc   string
	auto   bool   // --cgroup auto: our own delegated cgroup may stand in for systemd
	other  string // the way out without a scope (CgroupFlags.withoutScope)
	// keep: the counters are wanted after the run (--stats, --report, or
	// the OOM line of a memory limit), so a keeper holds the scope until
	// they are read.
	keep      bool
	keeperErr error
	conn      *systemdcgroup.Conn
	scope     *systemdcgroup.Scope
	ownScope  *systemdcgroup.OwnScope
}

func newScopeRun(c *CgroupFlags, argv []string) *scopeRun {
	desc := "sandbox: " + strings.Join(argv, " ")
	if len(desc) > 200 {
		desc = desc[:200] + "..."
	}
	keep := c.Stats || c.Report != "" || c.limits.MemoryMax != 0 || c.limits.SwapSet
	return &scopeRun{limits: c.limits, desc: desc, auto: c.Cgroup == "auto", keep: keep, other: c.withoutScope()}
}

// place starts the scope holding init and checks that every limit asked for can
// be enforced there: never silently unlimited. Without a systemd user manager,
// --cgroup auto uses our own cgroup when it is delegated to us and writable.
func (s *scopeRun) place(ctx context.Context, pid int) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("sandbox-%d-%s.scope", os.Getpid(), hex.EncodeToString(rnd[:]))
	conn, err := systemdcgroup.Connect(ctx)
	if err != nil {
		if own, ok := systemdcgroup.OwnCgroup(); ok && s.auto {
			scope, oerr := systemdcgroup.StartOwnScope(own, name, pid, s.limits)
			if oerr != nil {
				return "", fmt.Errorf("cgroup: %w; and %w; %s", err, oerr, s.other)
			}
			s.ownScope = scope
			return scope.Path(), nil
		}
		return "", fmt.Errorf("cgroup: %w; %s", err, s.other)
	}
	s.conn = conn
	var keeper *systemdcgroup.Keeper
	if s.keep {
		// Without one the counters are read if systemd is slower than
		// we are, as before; finish says so.
		keeper, s.keeperErr = systemdcgroup.StartKeeper()
	}
	scope, err := conn.StartKeptScope(ctx, name, s.desc, pid, s.limits, keeper)
	if err != nil {
		keeper.Release()
		return "", fmt.Errorf("cgroup: %w; %s", err, s.other)
	}
	s.scope = scope
	if err := scope.CheckControllers(s.limits); err != nil {
		return "", fmt.Errorf("cgroup: %w; %s", err, s.other)
	}
	return scope.Path(), nil
}

// finish reads the scope's resource use, then removes the scope. It runs once
// init has exited, so the scope holds no process of the sandbox (only the
// keeper, if any).
func (s *scopeRun) finish(log *slog.Logger) (systemdcgroup.Stats, bool) {
	if s.ownScope != nil {
		st, err := systemdcgroup.ReadStats(s.ownScope.Path())
		if rerr := s.ownScope.Remove(); rerr != nil {
			log.Warn("remove cgroup", "dir", s.ownScope.Path(), "err", rerr)
		}
		return st, err == nil
	}
	if s.conn == nil {
		return systemdcgroup.Stats{}, false
	}
	defer s.conn.Close()
	if s.scope == nil {
		return systemdcgroup.Stats{}, false
	}
	if s.keeperErr != nil {
		log.Warn("no keeper for the scope: its counters may be gone before they are read", "err", s.keeperErr)
	}
	st, err := s.scope.Stats()
	ok := err == nil && len(st.Have) > 0 // none: the cgroup was gone
	// The leaf init made; systemd would trim it too, but not before the
	// scope's stop job, which then has less to do.
	_ = os.Remove(filepath.Join(s.scope.Path(), "sandbox"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.scope.Stop(ctx); err != nil {
		log.Warn("stop scope", "scope", s.scope.Name(), "err", err)
	}
	return st, ok
}
