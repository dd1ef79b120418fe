package doctor

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
	"sandbox/layers"
	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// diagnosis picks the one check that matches a setup error, and none for
// errors that name their fix or are the command's own.
func TestDiagnoseSelectsCheck(t *testing.T) {
	store, _ := layers.DefaultStore()
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("create user namespace: %w (unprivileged user namespaces are disabled: check sysctl ...; run `sandbox check`)", unix.EPERM), "userns"},
		{fmt.Errorf("create namespaces: %w (namespace limit reached: raise user.max_user_namespaces)", unix.ENOSPC), "userns"},
		{fmt.Errorf("map IDs: write uid map: %w", &idmap.HelperError{Path: "/usr/bin/newuidmap", Err: errors.New("exit status 1"), Stderr: "write to uid_map failed"}), "newuidmap"},
		{fmt.Errorf("map IDs: write uid map: %w", &idmap.HelperError{Path: "/usr/bin/newuidmap", Err: errors.New("exit status 1"), Stderr: "uid range [0-1) -> [1-2) not allowed"}), "subids"},
		{fmt.Errorf("map IDs: %w", &idmap.HelperError{Path: "/x", Err: errors.New("exit status 1"), Fix: "install uidmap"}), ""},
		{fmt.Errorf("cgroup: %w (dial: no such file): install dbus-user-session and log in with a systemd session; or run without limits: --memory= (a profile's too)", systemdcgroup.ErrNoManager), "systemd"},
		{errors.New(`cgroup: start scope "x.scope": job failed: unit ActiveState=failed`), "systemd"},
		{fmt.Errorf("cgroup: %w", &systemdcgroup.MissingControllersError{Scope: "s", Advice: "x; fix (as root): y"}), ""},
		{&userns.ChildError{Stage: "mount", Msg: "run fuse-overlayfs: exit status 1: fuse: device not found", Code: 125}, "fuse"},
		{&userns.ChildError{Stage: "exec", Msg: "seccomp: invalid argument", Code: 125}, "seccomp"},
		{errors.New("network: start pasta: pasta failed with exit code 1"), "network"},
		{fmt.Errorf("create layer: mkdir %s/.ephemeral/x: permission denied", store.Root), "data-dir"},
		{&userns.ChildError{Stage: "exec", Msg: `exec "nosuch": not found`, Code: 127}, ""},
		{&userns.ChildError{Stage: "exec", Msg: `exec "./x": permission denied (seccomp?)`, Code: 126}, ""},
		{errors.New("--overlay fuse: fuse-overlayfs not found; fix: apt install fuse-overlayfs"), ""},
		{errors.New("--uid 5x: bad"), ""},
		{nil, ""},
	} {
		name, fn := diagnosis(c.err)
		if name != c.want || (fn == nil) != (c.want == "") {
			t.Errorf("%v: check %q, want %q", c.err, name, c.want)
		}
	}
}

// The hint is the check's finding and fix, on one line, pointing at
// sandbox check; a check that finds nothing wrong adds nothing.
func TestDiagnoseHint(t *testing.T) {
	env := &checkEnv{devFuse: filepath.Join(t.TempDir(), "fuse"), sysctl: t.TempDir()}
	err := &userns.ChildError{Stage: "mount", Msg: "run fuse-overlayfs: exit status 1: fuse: device not found", Code: 125}
	hint := diagnoseWith(err, env)
	want := "hint: fuse: no " + env.devFuse + ": --uid 0 and --overlay fuse need it; fix: sudo modprobe fuse (see `sandbox check`)"
	if hint != want {
		t.Errorf("got  %q\nwant %q", hint, want)
	}
	env.devFuse = "/dev/null" // opens: the check is ok (or only warns of a missing helper)
	if hint := diagnoseWith(err, env); hint != "" && !strings.Contains(hint, "fuse-overlayfs is not on PATH") {
		t.Errorf("device that opens: %q", hint)
	}
	if hint := diagnoseWith(errors.New("--uid x"), env); hint != "" {
		t.Errorf("unrelated error: %q", hint)
	}
}

// The hint leaves out what the error said already.
func TestDiagnoseUnsaid(t *testing.T) {
	msg := "cgroup: no manager (unix:path=/x: dial: refused): install it"
	for _, c := range []struct{ found, want string }{
		{"no manager (unix:path=/x: dial: refused): /x does not exist", "/x does not exist"},
		{"something else: entirely", "something else: entirely"},
		{"cgroup: no manager", "no manager"},
		{"", ""},
	} {
		if got := unsaid(c.found, msg); got != c.want {
			t.Errorf("unsaid(%q) = %q, want %q", c.found, got, c.want)
		}
	}
}
