package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sandbox/systemdcgroup"
)

// limitControllers are the controllers the limit flags need.
var limitControllers = []string{"cpu", "io", "memory", "pids"}

// checkSystemd connects to the systemd user manager, starts a real scope
// holding a sleep (as a limit would), reads which controllers it delegates,
// and stops it. Without a manager only limits are refused: a warning.
func checkSystemd(ctx context.Context, _ *checkEnv) checkResult {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dialCtx, dialCancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := systemdcgroup.Connect(dialCtx)
	dialCancel()
	if err != nil {
		return noSystemd(err)
	}
	defer conn.Close()

	bin, err := exec.LookPath("sleep")
	if err != nil {
		bin = "/bin/sleep"
	}
	sleep := exec.Command(bin, "30")
	sleep.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := sleep.Start(); err != nil {
		return checkFail("start a process for a test scope: "+err.Error(), "install coreutils (sleep)")
	}
	defer func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
	}()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("sandbox-check-%d-%s.scope", os.Getpid(), hex.EncodeToString(rnd[:]))
	scope, err := conn.StartScope(ctx, name, "sandbox check", sleep.Process.Pid, systemdcgroup.Limits{})
	if err != nil {
		return checkFail("the systemd user manager answers, but a scope failed: "+err.Error(),
			"see systemctl --user status and journalctl --user")
	}
	have, cerr := scope.Controllers()
	if err := scope.Stop(ctx); err != nil {
		return checkFail("the systemd user manager started a scope but did not stop it: "+err.Error(), "see journalctl --user -u "+name)
	}
	if cerr != nil {
		return checkFail("a scope of the systemd user manager: "+cerr.Error(), "see journalctl --user -u "+name)
	}
	found := "the systemd user manager starts scopes; a scope gets " + listOrNone(have)
	missing := systemdcgroup.MissingControllers(limitControllers, have)
	if len(missing) == 0 {
		return checkOK(found + ": every limit works")
	}
	advice := systemdcgroup.DelegateAdvice(missing)
	if host, err := systemdcgroup.HostControllers(); err == nil {
		found += " (the host's cgroup2 has " + listOrNone(host) + ")"
		if absent := systemdcgroup.MissingControllers(missing, host); len(absent) > 0 {
			advice = systemdcgroup.HostAdvice(absent)
		}
	}
	what, fix := splitAdvice(advice)
	return checkWarn(fmt.Sprintf("%s: %s, so %s refused", found, what, limitFlags(missing)), fix)
}

// noSystemd is the line without a user manager, with the reason found; limits
// may still use a delegated cgroup of our own.
func noSystemd(err error) checkResult {
	msg, _, _ := strings.Cut(err.Error(), ": install ") // the advice is in the fix
	why, fix := busProblem()
	found := msg + ": " + why + "; limits (--memory, --cpus, --pids, --io-weight) are refused, runs without limits work"
	if dir, ok := systemdcgroup.OwnCgroup(); ok {
		// What the run reads: the controllers enabled for the children
		// of our cgroup, where its cgroup would be made.
		enabled, _ := systemdcgroup.EnabledForChildren(dir)
		found = fmt.Sprintf("%s: %s; --cgroup auto limits use your own delegated cgroup %s instead (enabled for its children: %s)",
			msg, why, dir, listOrNone(enabled))
		if missing := systemdcgroup.MissingControllers(limitControllers, enabled); len(missing) > 0 {
			found += fmt.Sprintf(", so %s refused there", limitFlags(missing))
			fix = fmt.Sprintf("%s; or enable %s in %s/cgroup.subtree_control", fix, strings.Join(missing, " "), dir)
		}
	}
	return checkWarn(found, fix)
}

// busProblem says why no user manager answers, and the fix.
func busProblem() (why, fix string) {
	uid := strconv.Itoa(os.Getuid())
	runDir := "/run/user/" + uid
	std := runDir + "/bus"
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if path, ok := strings.CutPrefix(addr, "unix:path="); ok {
		path, _, _ = strings.Cut(path, ",")
		if _, err := os.Stat(path); err != nil && path != std {
			if _, err := os.Stat(std); err == nil {
				return "DBUS_SESSION_BUS_ADDRESS names " + path + ", which does not exist, but " + std + " does",
					"export DBUS_SESSION_BUS_ADDRESS=unix:path=" + std
			}
		}
	}
	switch {
	case addr == "" && fileExists(std), strings.Contains(addr, std) && fileExists(std):
		return "the bus " + std + " answers, but no systemd user manager is on it (a dbus-launch session?)",
			"apt install dbus-user-session, then log in again"
	case !fileExists("/run/systemd/system"):
		return "this host does not run systemd",
			"limits need a cgroup delegated to you (see README, Resource limits), or run without them"
	case !fileExists(runDir):
		return runDir + " does not exist: no login session of yours (su and sudo do not start one)",
			"log in with ssh or at the console, or: sudo loginctl enable-linger $USER"
	case !fileExists(std):
		return "your user manager has no bus socket " + std,
			"apt install dbus-user-session, then log in again"
	}
	return "the bus does not answer", "apt install dbus-user-session and log in again with a systemd session"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// splitAdvice splits systemdcgroup's "what; fix (as root): how" advice.
func splitAdvice(advice string) (what, fix string) {
	what, fix, ok := strings.Cut(advice, "; fix (as root): ")
	if !ok {
		return advice, ""
	}
	return what, "(as root) " + fix
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no controllers"
	}
	return strings.Join(l, " ")
}

// limitFlags names the flags that need the missing controllers.
func limitFlags(missing []string) string {
	flag := map[string]string{"cpu": "--cpus", "io": "--io-weight", "memory": "--memory", "pids": "--pids"}
	var out []string
	for _, c := range missing {
		if f, ok := flag[c]; ok {
			out = append(out, f)
		}
	}
	if len(out) == 1 {
		return out[0] + " is"
	}
	return strings.Join(out, ", ") + " are"
}
