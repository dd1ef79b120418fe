package feature

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Name is something of the host a test needs.
type Name string

// The features the suites probe. Each probe does the real thing, not a
// settings read.
const (
	UserNS    Name = "UserNS"    // unprivileged user namespaces
	NewUIDMap Name = "NewUIDMap" // newuidmap/newgidmap on PATH
	SubUID    Name = "SubUID"    // ranges for us in /etc/subuid and /etc/subgid
	SubIDs    Name = "SubIDs"    // NewUIDMap and SubUID: IDs other than ours inside
	NotRoot   Name = "NotRoot"   // the tests run as an unprivileged user
	UserBus   Name = "UserBus"   // a systemd user manager answers on D-Bus: limits
	Python3   Name = "Python3"   // python3 on PATH (the fork bomb; dash stops at a failed fork)
	Fuse      Name = "Fuse"      // fuse-overlayfs and /dev/fuse: --uid 0
	Script    Name = "Script"    // script(1), to give the sandbox a terminal
	Setpriv   Name = "Setpriv"   // setpriv(1), to run as another ID inside
	Setcap    Name = "Setcap"    // getcap(8) (libcap2-bin), often in /usr/sbin, off a user's PATH
	// Landlock (Linux 5.13+, enabled at boot): sandbox-netstack's file
	// confinement.
	Landlock Name = "Landlock"
	// The user-mode stacks of --net pasta and --net slirp4netns (--net
	// gvisor's sandbox-netstack is built by the suites' TestMain).
	Pasta       Name = "Pasta"
	Slirp4netns Name = "Slirp4netns"
)

// Probes returns the one set of probes every suite uses: feature.New(Probes()).
func Probes() map[Name]func() error {
	return map[Name]func() error{
		UserNS: func() error {
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
			return cmd.Run()
		},
		NewUIDMap: idHelpers,
		SubUID:    subIDRanges,
		SubIDs: func() error {
			if err := idHelpers(); err != nil {
				return err
			}
			return subIDRanges()
		},
		NotRoot: func() error {
			if os.Getuid() == 0 {
				return fmt.Errorf("running as root")
			}
			return nil
		},
		UserBus: func() error {
			out, err := exec.Command("systemctl", "--user", "show", "-p", "Version").CombinedOutput()
			if err != nil {
				return fmt.Errorf("systemctl --user: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		},
		Python3: lookPath("python3"),
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
			_, err := SbinPath("getcap")
			return err
		},
	}
}

func idHelpers() error {
	for _, h := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(h); err != nil {
			return err
		}
	}
	return nil
}

func subIDRanges() error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if !HasSubIDs(f, u.Username, u.Uid) {
			return fmt.Errorf("no range for %s in %s", u.Username, f)
		}
	}
	return nil
}

// SbinPath finds an administrator's tool on PATH or in the sbin directories a
// fresh user's PATH lacks (Debian puts getcap and setcap in /usr/sbin).
func SbinPath(name string) (string, error) {
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

// Controllers skips t unless the host's cgroup2 hierarchy has every
// controller named. This skip holds even with SANDBOX_TESTS_MUST_WORK=1: it is
// a fact of the host (a hybrid host keeps memory, cpu, pids and io in its v1
// hierarchies), not a missing piece of the sandbox's setup. Where enforcement
// must be seen (CI's VM job), SANDBOX_TESTS_ENFORCE=1 makes it a failure.
func Controllers(t *testing.T, ctrls ...string) {
	t.Helper()
	root := Cgroup2Root()
	b, err := os.ReadFile(root + "/cgroup.controllers")
	have := strings.Fields(string(b))
	for _, c := range ctrls {
		found := false
		for _, h := range have {
			found = found || h == c
		}
		if (err != nil || !found) && os.Getenv("SANDBOX_TESTS_ENFORCE") == "1" {
			t.Fatalf("host lacks the %s controller in cgroup2 (%s/cgroup.controllers: %q, %v) (SANDBOX_TESTS_ENFORCE=1)", c, root, have, err)
		}
		if err != nil || !found {
			t.Skipf("host lacks the %s controller in cgroup2 (%s/cgroup.controllers: %q, %v): limits cannot be enforced here", c, root, have, err)
		}
	}
}

// Cgroup2Root is where the cgroup2 hierarchy is mounted here (preferring
// /sys/fs/cgroup).
func Cgroup2Root() string {
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
