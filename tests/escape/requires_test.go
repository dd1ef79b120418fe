package escape

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"sandbox/tests/feature"
)

// Feature is something of the host a test needs. Each probe does the real
// thing, not a settings read.
type Feature string

const (
	UserNS  Feature = "UserNS"  // unprivileged user namespaces
	SubIDs  Feature = "SubIDs"  // newuidmap/newgidmap and our ranges: IDs other than ours inside
	Fuse    Feature = "Fuse"    // fuse-overlayfs and /dev/fuse: --uid 0
	Script  Feature = "Script"  // script(1), to give the sandbox a terminal
	Setpriv Feature = "Setpriv" // setpriv(1), to run as another ID inside
	Setcap  Feature = "Setcap"  // getcap(8) (libcap2-bin), often in /usr/sbin, off a user's PATH
	UserBus Feature = "UserBus" // a systemd user manager answers on D-Bus: limits
	// Landlock (Linux 5.13+, enabled at boot): sandbox-netstack's file
	// confinement.
	Landlock Feature = "Landlock"
	// The user-mode stacks of --net pasta and --net slirp4netns (--net
	// gvisor's sandbox-netstack is built by TestMain).
	Pasta       Feature = "Pasta"
	Slirp4netns Feature = "Slirp4netns"
)

var probes = map[Feature]func() error{
	UserNS: func() error {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		return cmd.Run()
	},
	SubIDs: func() error {
		for _, h := range []string{"newuidmap", "newgidmap"} {
			if _, err := exec.LookPath(h); err != nil {
				return err
			}
		}
		u, err := user.Current()
		if err != nil {
			return err
		}
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if !feature.HasSubIDs(f, u.Username, u.Uid) {
				return fmt.Errorf("no range for %s in %s", u.Username, f)
			}
		}
		return nil
	},
	Fuse: func() error {
		if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
			return err
		}
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		return f.Close()
	},
	Landlock: func() error {
		_, _, e := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
		if e != 0 {
			return fmt.Errorf("landlock_create_ruleset: %w", e)
		}
		return nil
	},
	Pasta:       lookPath("pasta"),
	Slirp4netns: lookPath("slirp4netns"),
	Script:      lookPath("script"),
	Setpriv:     lookPath("setpriv"),
	Setcap: func() error {
		_, err := sbinPath("getcap")
		return err
	},
	UserBus: func() error {
		out, err := exec.Command("systemctl", "--user", "show", "-p", "Version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemctl --user: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	},
}

// sbinPath finds an administrator's tool on PATH or in the sbin directories a
// fresh user's PATH lacks (Debian puts getcap and setcap in /usr/sbin).
func sbinPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p, err := exec.LookPath(d + "/" + name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH nor in /usr/sbin, /sbin (apt install libcap2-bin)", name)
}

func lookPath(name string) func() error {
	return func() error {
		_, err := exec.LookPath(name)
		return err
	}
}

var features = feature.New(probes)

// requires skips the test unless every feature works here, printing why. With
// SANDBOX_TESTS_MUST_WORK=1 (CI) a missing feature fails the test instead.
func requires(t *testing.T, fs ...Feature) {
	t.Helper()
	features.Requires(t, fs...)
}

// requiresController skips unless the host's cgroup2 root has the controller.
// This skip holds even with SANDBOX_TESTS_MUST_WORK=1: it is a fact of the
// host (a hybrid host keeps pids, memory, cpu and io in its v1 hierarchies,
// and no delegation can give cgroup2 a controller its root lacks), not a
// missing piece of the sandbox's setup.
func requiresController(t *testing.T, ctrl string) {
	t.Helper()
	root := cgroup2Root()
	if root == "" {
		t.Skipf("host has no cgroup2 hierarchy mounted: the %s limit cannot be enforced here", ctrl)
	}
	b, err := os.ReadFile(root + "/cgroup.controllers")
	for _, c := range strings.Fields(string(b)) {
		if c == ctrl {
			return
		}
	}
	t.Skipf("host's cgroup2 root %s lacks the %s controller (cgroup.controllers: %q, %v): the limit cannot be enforced here (allowed with SANDBOX_TESTS_MUST_WORK=1)",
		root, ctrl, strings.TrimSpace(string(b)), err)
}

// cgroup2Root is where the cgroup2 hierarchy is mounted here (preferring
// /sys/fs/cgroup).
func cgroup2Root() string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	best := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && (best == "" || f[4] == "/sys/fs/cgroup") {
				best = f[4]
			}
		}
	}
	return best
}
