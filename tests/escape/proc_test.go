package escape

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// The command sees only the sandbox's processes and cannot reach a host
// process by its PID: a sleep the test started does not exist inside (ESRCH),
// and lives on.
func TestHostProcessesOutOfReach(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		p := startHostProcess(t, "sleep", "30")
		r := must(t, m.with("--", escapee, "kill", fmt.Sprint(p.Pid))...)
		expect(t, r, m.name+": ", map[string][]string{"kill0": {"ESRCH"}, "kill": {"ESRCH"}, "proc": {"ENOENT"}})
		// init, escapee and, with --uid 0, fuse-overlayfs; nothing of the host.
		for _, p := range strings.Split(r.get("procs"), ",") {
			pid, comm, _ := strings.Cut(p, ":")
			if !oneOf(comm, "sandbox-init", "escapee", "fuse-overlayfs") || (comm == "sandbox-init") != (pid == "1") {
				t.Errorf("%s: process %s (%s) visible inside, want only the sandbox's own", m.name, pid, comm)
			}
		}
		if err := p.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("%s: the host's sleep (PID %d) is gone: %v", m.name, p.Pid, err)
		}
	}, defaultMode, rootAll)
}

// Init (PID 1) is the one process inside with privileges the command lacks:
// it must be out of the command's reach, as a process of another user would
// be: no ptrace (EPERM), no /proc/1/mem, environ, root, and none of its
// descriptors (EACCES). (Root inside may list /proc/1/fd, a directory of
// numbers, as init runs as root inside too; opening an entry is what counts.)
func TestInitOutOfReach(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		r := must(t, m.with("--", escapee, "init")...)
		want := map[string][]string{
			"ptrace-seize:1":        {"EPERM"},
			"openrw:/proc/1/mem":    {"EACCES", "EPERM"},
			"read:/proc/1/environ":  {"EACCES", "EPERM"},
			"readlink:/proc/1/root": {"EACCES", "EPERM"},
			"list:/proc/1/root":     {"EACCES", "EPERM"},
			"list:/proc/1/fd":       {"EACCES", "EPERM"},
			"openw:/proc/1/fd/4":    {"EACCES", "EPERM"},
		}
		if m.name != defaultMode.name {
			want["list:/proc/1/fd"] = []string{"EACCES", "EPERM", "OK"}
		}
		expect(t, r, m.name+": ", want)
		checkFDPaths(t, m.name, r)
	}, defaultMode, root, rootAll)
}

// checkFDPaths wants every descriptor of another process unopenable, and
// nothing created through one.
func checkFDPaths(t *testing.T, mode string, r result) {
	t.Helper()
	for _, l := range strings.Split(r.stdout, "\n") {
		what, res, _ := strings.Cut(l, " ")
		switch {
		case strings.HasPrefix(what, "opath:") && !oneOf(res, "EACCES", "EPERM", "ENOENT"):
			t.Errorf("%s: %s opened from inside (%s), want EACCES", mode, strings.TrimPrefix(what, "opath:"), res)
		case strings.HasPrefix(what, "create:") && res == "OK":
			t.Errorf("%s: ESCAPE: the command created a file through %s", mode, strings.TrimPrefix(what, "create:"))
		}
	}
}

// What write access to init's memory is worth: code planted in init's signal
// trampoline runs on one of init's threads that still hold every capability
// of the namespace and no seccomp filter, and unmounts the tmpfs over ~/.ssh,
// or drops the read-only flag of a --ro bind and writes the host's file.
// Designed answer: /proc/1/mem does not open (EACCES), so nothing else runs.
func TestInitCodeInjection(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		t.Run("unmask-secrets", func(t *testing.T) {
			guard(t)
			r := must(t, m.with("--", escapee, "inject", "unmask", secretDir, secret)...)
			checkInjection(t, r, "unmounted the tmpfs hiding ~/.ssh and read "+secret)
		})
		t.Run("remount-ro-bind", func(t *testing.T) {
			ro := workdir(t)
			writeFile(t, ro+"/f", "read-only\n", 0o644)
			guard(t, ro)
			r := must(t, m.with("--ro", ro+":/tmp/ro", "--", escapee, "inject", "remount", "/tmp/ro", "/tmp/ro/f")...)
			checkInjection(t, r, "made the --ro bind writable and rewrote the host's "+ro+"/f")
		})
	}, defaultMode, root, rootAll)
}

func checkInjection(t *testing.T, r result, what string) {
	t.Helper()
	if got := r.get("inject-mem"); !oneOf(got, "EACCES", "EPERM") {
		t.Errorf("/proc/1/mem opened for writing from inside (%s), want EACCES", got)
	}
	switch res := r.get("inject-result"); res {
	case "escaped":
		t.Errorf("ESCAPE: code written into init's memory %s\n%s", what, r)
	case "(missing)", "contained":
	default:
		t.Logf("injection not tried on %s: %s", runtime.GOARCH, res)
	}
}

// A fork bomb stops at --pids: forks fail with EAGAIN at the limit. The host
// must have the pids controller in its cgroup2 root; without it the limit
// cannot be enforced anywhere, and the test skips even in must-work mode
// (see requiresController).
func TestForkBombHeld(t *testing.T) {
	requires(t, UserNS, UserBus)
	requiresController(t, "pids")
	guard(t)
	r := must(t, "--pids", "50", "--", escapee, "forkbomb", "200")
	var started int
	fmt.Sscan(r.get("started"), &started)
	if started >= 50 || r.get("first-error") != "EAGAIN" {
		t.Errorf("--pids 50: %d children started, first error %s; want fewer than 50 and EAGAIN:\n%s", started, r.get("first-error"), r)
	}
}

// Under --uid 0 the sandbox holds a helper besides init: fuse-overlayfs,
// started before the sandbox's root was in place, whose root and descriptors
// are the host's. Like init it must be out of the command's reach: no
// ptrace, no /proc/PID/root, none of its descriptors (EACCES), also for root
// inside with --cap-add ALL (which is all but CAP_SYS_PTRACE: that one would
// open every process of the sandbox's user namespace to the command).
func TestHelpersOutOfReach(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		outside := workdir(t)
		guard(t, outside)
		name := "created-through-helper-" + token()
		r := must(t, m.with("--", escapee, "others", outside, name)...)
		if !strings.Contains(r.stdout, " fuse-overlayfs") {
			t.Fatalf("%s: no fuse-overlayfs inside, the case proves nothing:\n%s", m.name, r)
		}
		checkFDPaths(t, m.name, r)
		for _, l := range strings.Split(r.stdout, "\n") {
			what, res, _ := strings.Cut(l, " ")
			if (strings.HasPrefix(what, "ptrace-seize:") || strings.HasPrefix(what, "list:") && strings.HasSuffix(what, "/root")) &&
				!oneOf(res, "EACCES", "EPERM", "ENOENT") {
				t.Errorf("%s: %s: %s, want EACCES or EPERM", m.name, what, res)
			}
		}
	}, root, rootAll)
}

// Every thread of init carries the command's seccomp filter and
// no_new_privs, not only the one that forked the command: init's Go runtime
// threads (which serve published ports) keep capabilities the command lacks,
// so even if one were reached (init is not dumpable), the filter refuses them
// mount, ptrace and the rest. /proc/1/task/*/status stays readable inside.
func TestInitThreadsFiltered(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		r := must(t, m.with("--", "sh", "-c", "grep -h -e Seccomp: -e NoNewPrivs: /proc/1/task/*/status")...)
		var filtered, nnp int
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "Seccomp:" && f[1] == "2":
				filtered++
			case len(f) == 2 && f[0] == "NoNewPrivs:" && f[1] == "1":
				nnp++
			default:
				t.Errorf("%s: an init thread without the filter or no_new_privs: %q", m.name, l)
			}
		}
		if filtered < 2 || filtered != nnp {
			t.Errorf("%s: %d filtered threads, %d with no_new_privs, want the same and at least 2:\n%s", m.name, filtered, nnp, r.stdout)
		}
	}, defaultMode, rootAll)
}
