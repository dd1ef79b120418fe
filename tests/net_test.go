package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// hostListener listens on the host's 127.0.0.1 and answers one line.
func hostListener(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen on the host: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello-from-host")
			c.Close()
		}
	}()
	return l
}

func connectInside(t *testing.T, args []string, what ...string) string {
	t.Helper()
	r := sandbox(t, "", nil, append(args, append([]string{"--", probe}, what...)...)...)
	if r.code != 0 {
		t.Fatalf("sandbox %q: exit %d: %s", args, r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func TestNetNoneAndHost(t *testing.T) {
	requires(t, UserNS)
	l := hostListener(t, "tcp", "127.0.0.1:0")
	abstract := fmt.Sprintf("sandbox-test-%d", os.Getpid())
	hostListener(t, "unix", "@"+abstract)
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	if got := connectInside(t, nil, "connect", "127.0.0.1:"+port); got != "connect ECONNREFUSED" {
		t.Errorf("--net none reached the host's 127.0.0.1: %q", got)
	}
	if got := connectInside(t, nil, "connect-abstract", abstract); strings.HasPrefix(got, "connect ok") {
		t.Errorf("--net none reached the host's abstract socket: %q", got)
	}
	if got := connectInside(t, []string{"--net", "host"}, "connect", "127.0.0.1:"+port); got != "connect ok hello-from-host" {
		t.Errorf("--net host did not reach the host's 127.0.0.1: %q", got)
	}
	if got := connectInside(t, []string{"--net", "host"}, "connect-abstract", abstract); got != "connect ok hello-from-host" {
		t.Errorf("--net host did not reach the host's abstract socket (the README warns it does): %q", got)
	}
}

// The user modes reach the test host CI made (a network namespace on a veth
// pair, SANDBOX_TEST_HOST=IP:PORT), but not the host's loopback, its abstract
// sockets, or the gateway's mapping of it, unless --allow-host-loopback.
func TestNetUserModes(t *testing.T) {
	requires(t, UserNS)
	testHost := os.Getenv("SANDBOX_TEST_HOST")
	if testHost == "" {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal("SANDBOX_TEST_HOST is not set: .ci/run makes the test host")
		}
		t.Skip("requires SANDBOX_TEST_HOST=IP:PORT, a TCP server on a test host of this machine (.ci/run makes one)")
	}
	l := hostListener(t, "tcp", "127.0.0.1:0")
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	abstract := fmt.Sprintf("sandbox-test-u-%d", os.Getpid())
	hostListener(t, "unix", "@"+abstract)
	for _, mode := range []string{"pasta", "slirp4netns"} {
		t.Run(mode, func(t *testing.T) {
			if _, err := exec.LookPath(mode); err != nil {
				if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
					t.Fatalf("requires %s: %v", mode, err)
				}
				t.Skipf("requires %s: %v", mode, err)
			}
			args := []string{"--net", mode}
			if got := connectInside(t, args, "connect", testHost); got != "connect ok hello-from-test-host" {
				t.Errorf("--net %s: the test host %s: %q", mode, testHost, got)
			}
			for _, addr := range []string{"127.0.0.1:" + port, "10.0.2.2:" + port} {
				if got := connectInside(t, args, "connect", addr); strings.HasPrefix(got, "connect ok") {
					t.Errorf("--net %s reached the host's loopback through %s: %q", mode, addr, got)
				}
			}
			if got := connectInside(t, args, "connect-abstract", abstract); strings.HasPrefix(got, "connect ok") {
				t.Errorf("--net %s reached the host's abstract socket: %q", mode, got)
			}
			open := append(args, "--allow-host-loopback")
			if got := connectInside(t, open, "connect", "10.0.2.2:"+port); got != "connect ok hello-from-host" {
				t.Errorf("--net %s --allow-host-loopback: the host's 127.0.0.1 through the gateway: %q", mode, got)
			}
			r := sandbox(t, "", nil, append(args, "--", "cat", "/etc/resolv.conf")...)
			if !strings.Contains(r.stdout, "nameserver 10.0.2.3") {
				t.Errorf("--net %s: resolv.conf %q", mode, r.stdout)
			}
			if pids := helperPids(mode); len(pids) > 0 {
				t.Errorf("--net %s left %s running: %v", mode, mode, pids)
			}
		})
	}
}

func TestNetBadInput(t *testing.T) {
	for _, args := range [][]string{{"--net", "bogus"}, {"--mtu", "10", "--net", "user"}, {"--cidr", "x", "--net", "user"}, {"--allow-host-loopback"}, {"--share-net", "--net", "pasta"}} {
		r := sandbox(t, "", nil, append(args, "--", "true")...)
		if r.code != 125 || len(lines(r.stderr)) != 1 {
			t.Errorf("%q: exit %d, %q; want 125, one line", args, r.code, r.stderr)
		}
	}
}

// helperPids lists the running helpers of a user-mode stack (pasta shows as
// passt*, and both may run as a sub-ID once they joined the namespace).
func helperPids(name string) []string {
	prefix := name
	if name == "pasta" {
		prefix = "pas"
	}
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// The user-mode helper dies with the sandbox, also when sandbox gets SIGKILL
// (slirp4netns through its exit fd).
func TestNetHelperDiesWithSandbox(t *testing.T) {
	requires(t, UserNS)
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("requires slirp4netns: %v", err)
		}
		t.Skipf("requires slirp4netns: %v", err)
	}
	before := len(helperPids("slirp4netns"))
	cmd := exec.Command(bin, "--net", "slirp4netns", "--", "sleep", "60")
	cmd.Dir = workdir(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool { return len(helperPids("slirp4netns")) > before }, "slirp4netns to start")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, func() bool { return len(helperPids("slirp4netns")) <= before }, "slirp4netns to end after SIGKILL of sandbox")
}
