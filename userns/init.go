package userns

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/seccomp"
)

// Init is the sandbox's PID 1: it reads its Config from the parent, builds the
// filesystem once the ID maps exist, starts the command when released, forwards
// signals to it, reaps every orphan, and exits with the command's status. It
// returns the exit status for main to pass to os.Exit.
//
// Runs in the sandbox (new namespaces), with every capability of the new user
// namespace in its ambient set.
//
// Preconditions: OS thread locked (main locks it in an init func). Mounts, the
// lock-down and the fork of the command all happen on this one thread, since
// namespaces and privileges are per-thread state.
func Init() int {
	// ps inside shows "sandbox-init", not "exe" (from /proc/self/exe).
	setName("sandbox-init")
	in := newFrames(os.NewFile(3, "sync"))
	out := msgOut{f: os.NewFile(4, "msg")}
	// Nothing init holds may reach the command: mark every inherited fd above
	// stderr close-on-exec (runc CVE-2024-21626 leaked a host directory fd).
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)

	// Signals from the parent queue up while we set up; the command gets them
	// once it runs. Notify waits for the runtime's signal thread once per
	// signal, ~2 ms for these 21 here: it runs beside the set-up, and the
	// command starts only once it is done (issue 15).
	sigs := make(chan os.Signal, 16)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwardedInInit...)
		signal.Notify(sigs, absorbedInInit...)
		close(notified)
	}()

	fail := func(stage string, code int, err error) int {
		_ = out.send(Msg{Type: MsgError, Stage: stage, Err: err.Error(), Code: code})
		return code
	}
	m, err := in.next()
	if err != nil || m.Type != MsgConfig || m.Config == nil {
		return fail("init", 125, fmt.Errorf("read config from parent: %v", err))
	}
	cfg := m.Config
	log := newLogger(cfg.Verbose)
	if cfg.QuickIPv6 {
		// Before the parent starts the network helper (after the ID maps):
		// its tap takes these defaults when it is made.
		if err := quickIPv6(); err != nil {
			log.Debug("ipv6 defaults", "err", err)
		}
	}
	if cfg.Aux {
		a := openInitAux()
		if a == nil {
			return fail("init", 125, fmt.Errorf("no aux channel from the parent"))
		}
		// The tap first: the parent's stack waits for it before it sends
		// Mapped.
		if t := cfg.Tap; t != nil {
			if err := a.sendTap(t); err != nil {
				return fail("network", 125, err)
			}
		}
		go a.serve()
	}

	if _, err := expect(in, MsgMapped); err != nil {
		return fail("init", 125, err)
	}
	// sandbox-runc create: the start socket is bound while the host's tree
	// is in view (it lives in the runtime's state directory), and once the
	// IDs are mapped (the socket file needs an owner).
	// /proc is still the host's mount here, and its sys/ files show the
	// namespaces of the writer: ours.
	for k, v := range cfg.Sysctl {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
			return fail("sysctl", 125, fmt.Errorf("set %s: %w", k, err))
		}
	}
	var door *door
	if cfg.StartSocket != "" {
		var err error
		if door, err = openDoor(cfg); err != nil {
			return fail("create", 125, err)
		}
	}
	// Not dumpable from here on (the parent has written our ID maps and the
	// network helpers have joined our namespaces, all through /proc/PID):
	// the kernel then lets no process without CAP_SYS_PTRACE (which the
	// command never gets) ptrace init or open its /proc/1/mem, environ, fd/
	// or root/. Init's threads other than the one that forks the command
	// keep every capability (and get the filter only once the command
	// runs); a command that could write init's memory could make them undo
	// the sandbox's mounts.
	// Dumpable is per process and kept for life: init never execs.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail("init", 125, fmt.Errorf("set not dumpable: %w", err))
	}
	// createContainer hooks: in our namespaces, before pivot_root (hooks.go).
	if err := createContainerHooks(cfg); err != nil {
		return fail("createContainer", 125, err)
	}
	host, err := setupRoot(cfg, log)
	if err != nil {
		return fail("mount", 125, err)
	}
	mem := memLayerOf(cfg.Mounts)
	mem.baseline()
	if err := setupHost(cfg); err != nil {
		return fail("setup", 125, err)
	}
	goMsg, err := expect(in, MsgGo)
	if err != nil {
		return fail("init", 125, err)
	}
	// Cgroup, then working directory: enterCgroup closes init's last handle
	// on the host's tree, so nothing of the host is open while the
	// untrusted directory is resolved (runc CVE-2024-21626).
	if err := enterCgroup(host, goMsg.Cgroup, cfg.CgroupWritable, cfg.JoinedCgroupNS); err != nil {
		return fail("cgroup", 125, err)
	}
	if err := enterWorkDir(cfg.Dir); err != nil {
		return fail("chdir", 125, err)
	}
	<-notified
	if door != nil {
		// Created: wait for `start`. What follows (an exec error, the
		// Started message) is for the caller of `start`, the parent
		// being gone.
		conn, code, err := door.awaitStart(out, sigs)
		if err != nil {
			return fail("start", code, err)
		}
		out = msgOut{f: conn, json: true}
		if err := startContainerHooks(cfg); err != nil {
			return fail("startContainer", 125, err)
		}
	}
	if err := checkDescriptors(preservedList(cfg.PreservedFDs)...); err != nil {
		return fail("exec", 125, err)
	}
	pid, code, err := startCommand(cfg)
	if err != nil {
		return fail("exec", code, err)
	}
	closePreserved(cfg.PreservedFDs) // the command's now, not init's
	log.Debug("command started", "pid", pid, "argv", cfg.Argv)
	if door != nil {
		_ = out.send(Msg{Type: MsgStarted})
	}
	if len(cfg.Seccomp) > 0 {
		// This thread has the command's filter since lockDown; the others
		// (the Go runtime's, which serve the aux channel) get it too.
		if err := seccomp.SyncThreads(); err != nil {
			log.Warn("seccomp", "err", err)
		}
	}
	sup := &supervisor{pid: pid, tty: isControllingTTY(0), out: out, in: in, sigs: sigs,
		grace: time.Duration(cfg.StopTimeout) * time.Second, execs: door.execTable()}
	// Exec from now on: every thread of init has the filter (oci_exec.go).
	door.open()
	if cfg.StopTimeout < 0 {
		sup.grace = -1
	}
	status, sig := sup.run()
	// Everything else in the sandbox ends before the status is reported,
	// so nothing of it outlives `sandbox` when the parent leaves at once
	// (Config.NoWait); it would die with init anyway.
	endAll()
	written, files := mem.written()
	_ = out.send(Msg{Type: MsgExit, Status: status, Signal: sig, Discarded: written, DiscardedFiles: files})
	return status
}

func expect(in *frames, want MsgType) (Msg, error) {
	m, err := in.next()
	if err != nil {
		return m, fmt.Errorf("wait for %s from parent: %w", want, err)
	}
	if m.Type != want {
		return m, fmt.Errorf("wait for %s from parent: got %s", want, m.Type)
	}
	return m, nil
}

// setupHost gives the sandbox its own name and a working loopback, and closes
// the way to the host's own addresses.
func setupHost(cfg *Config) error {
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
		}
	}
	if cfg.NetLo {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bring up lo: %w", err)
		}
	}
	return blockHostAddrs(cfg.BlockAddrs)
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("stage", "init")
}

// quickIPv6 sets the namespace's defaults for new interfaces: no duplicate
// address detection (the tap's link has only us and the helper) and no delay
// before the router solicitation. /proc is still the host's mount here; its
// net/ files show the namespace of the reader.
func quickIPv6() error {
	for _, f := range []string{"accept_dad", "router_solicitation_delay"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/default/"+f, []byte("0\n"), 0); err != nil {
			return err
		}
	}
	return nil
}
