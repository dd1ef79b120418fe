package doctor

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
	"sandbox/layers"
	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// Diagnose returns a one-line hint for a setup error of `sandbox run`: the
// cause that the one matching check of `sandbox check` finds, and its fix,
// ending in "(see `sandbox check`)". It returns "" when no check matches the
// error, when the error names its fix already, or when the check finds nothing
// wrong. Only that one check runs, without starting a sandbox.
func Diagnose(err error, d Deps) string {
	return diagnoseWith(err, hostCheckEnv(false, d))
}

func diagnoseWith(err error, env *checkEnv) string {
	name, check := diagnosis(err)
	if check == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := check(ctx, env)
	if r.Status == statusOK {
		return ""
	}
	hint := "hint: " + name + ": " + unsaid(r.Found, err.Error())
	if r.Fix != "" && !strings.Contains(err.Error(), r.Fix) {
		hint += "; fix: " + r.Fix
	}
	return checkOneLine(hint + " (see `sandbox check`)")
}

// diagnosis picks the check that can explain err, by the error's type where
// it has one and by its stage otherwise.
func diagnosis(err error) (string, checkFunc) {
	if err == nil {
		return "", nil
	}
	msg := err.Error()
	if strings.Contains(msg, "fix") {
		return "", nil // it names its fix already
	}
	var ce *userns.ChildError
	if errors.As(err, &ce) && ce.Code != 0 && ce.Code != setupFailed {
		return "", nil // 126, 127: the command itself, not the setup
	}
	var he *idmap.HelperError
	var mce *systemdcgroup.MissingControllersError
	switch {
	case errors.As(err, &he):
		if strings.Contains(he.Stderr, "not allowed") {
			return "subids", checkSubIDs
		}
		return "newuidmap", checkIDHelpers
	case errors.As(err, &mce):
		return "", nil // its advice is the fix
	case errors.Is(err, systemdcgroup.ErrNoManager), strings.HasPrefix(msg, "cgroup: "):
		return "systemd", checkSystemd
	case strings.Contains(msg, "user namespace"), strings.Contains(msg, "create namespaces"),
		errors.Is(err, unix.EPERM) && strings.HasPrefix(msg, "start init"):
		return "userns", checkUserNS
	case strings.Contains(msg, "fuse"):
		return "fuse", checkFuse
	case strings.Contains(msg, "pasta"), strings.Contains(msg, "slirp4netns"), strings.Contains(msg, "/dev/net/tun"),
		strings.HasPrefix(msg, "network: "):
		return "network", checkNetwork
	case ce != nil && strings.Contains(msg, "seccomp"):
		return "seccomp", checkSeccomp
	}
	if store, serr := layers.DefaultStore(); serr == nil && strings.Contains(msg, store.Root) {
		return "data-dir", checkDataDir
	}
	return "", nil
}

// unsaid drops the leading ": "-separated parts of found that msg says
// already.
func unsaid(found, msg string) string {
	rest := found
	for {
		i := strings.Index(rest, ": ")
		if i < 0 || !strings.Contains(msg, found[:len(found)-len(rest)+i]) {
			return rest
		}
		rest = rest[i+2:]
	}
}
