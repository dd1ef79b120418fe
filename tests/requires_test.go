package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Feature is something of the host a test needs. Each probe does the real
// thing, not a settings read.
type Feature string

const (
	UserNS    Feature = "UserNS"    // unprivileged user namespaces
	NewUIDMap Feature = "NewUIDMap" // newuidmap/newgidmap on PATH
	SubUID    Feature = "SubUID"    // ranges for us in /etc/subuid and /etc/subgid
	NotRoot   Feature = "NotRoot"   // the tests run as an unprivileged user
)

var probes = map[Feature]func() error{
	UserNS: func() error {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		return cmd.Run()
	},
	NewUIDMap: func() error {
		for _, h := range []string{"newuidmap", "newgidmap"} {
			if _, err := exec.LookPath(h); err != nil {
				return err
			}
		}
		return nil
	},
	SubUID: func() error {
		u, err := user.Current()
		if err != nil {
			return err
		}
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if !hasSubIDs(f, u.Username, u.Uid) {
				return fmt.Errorf("no range for %s in %s", u.Username, f)
			}
		}
		return nil
	},
	NotRoot: func() error {
		if os.Getuid() == 0 {
			return fmt.Errorf("running as root")
		}
		return nil
	},
}

var probeOnce sync.Map // Feature -> *probeResult

type probeResult struct {
	once sync.Once
	err  error
}

// requires skips the test unless every feature works here, printing why. With
// SANDBOX_TESTS_MUST_WORK=1 (CI) a missing feature fails the test instead.
func requires(t *testing.T, features ...Feature) {
	t.Helper()
	for _, f := range features {
		probe, ok := probes[f]
		if !ok {
			t.Fatalf("BUG: unknown feature %q in requires", f)
		}
		v, _ := probeOnce.LoadOrStore(f, &probeResult{})
		r := v.(*probeResult)
		r.once.Do(func() { r.err = probe() })
		if r.err == nil {
			continue
		}
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("requires %s: %v (SANDBOX_TESTS_MUST_WORK=1)", f, r.err)
		}
		t.Skipf("requires %s: %v", f, r.err)
	}
}

func hasSubIDs(path, name, uid string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) == 3 && (fields[0] == name || fields[0] == uid) {
			return true
		}
	}
	return false
}
