package tests

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		t.Skip("requires SANDBOX_TEST_HOST=IP:PORT: a test host that is not this machine (whose own addresses the user modes close), " +
			"serving `go run ./tests/probe serve :PORT` (.ci/run makes one as root: a network namespace on a veth pair)")
	}
	l := hostListener(t, "tcp", "127.0.0.1:0")
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	abstract := fmt.Sprintf("sandbox-test-u-%d", os.Getpid())
	hostListener(t, "unix", "@"+abstract)
	for _, m := range userModes {
		mode := m.mode
		t.Run(mode, func(t *testing.T) {
			requiresHelper(t, mode)
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
			if mode != "gvisor" {
				checkIPv6(t, args)
			}
			open := append(args, "--allow-host-loopback")
			if got := connectInside(t, open, "connect", "10.0.2.2:"+port); got != "connect ok hello-from-host" {
				t.Errorf("--net %s --allow-host-loopback: the host's 127.0.0.1 through the gateway: %q", mode, got)
			}
			dns := "10.0.2.3"
			if mode == "gvisor" {
				dns = "10.0.2.2" // gvisor-tap-vsock answers on the gateway
			}
			r := sandbox(t, "", nil, append(args, "--", "cat", "/etc/resolv.conf")...)
			if !strings.Contains(r.stdout, "nameserver "+dns) {
				t.Errorf("--net %s: resolv.conf %q", mode, r.stdout)
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

// userModes are the --net modes with a helper process, and the name it shows
// in /proc/PID/comm.
var userModes = []struct{ mode, comm string }{
	{"pasta", "pasta"},
	{"slirp4netns", "slirp4netns"},
	{"gvisor", "sandbox-netstac"}, // comm keeps 15 characters
}

func requiresHelper(t *testing.T, mode string) {
	t.Helper()
	if mode == "gvisor" {
		return // sandbox-netstack is built beside sandbox by TestMain
	}
	if _, err := exec.LookPath(mode); err != nil {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("requires %s: %v", mode, err)
		}
		t.Skipf("requires %s: %v", mode, err)
	}
}

// The user-mode helper lives exactly as long as the sandbox: none is left
// after a normal exit, after the command is killed, or after sandbox itself
// gets SIGKILL (pasta through the keeper, slirp4netns and sandbox-netstack
// through their exit pipes). The helpers are the ones below this run's
// sandbox process, found while it runs: other tests (the escape suite runs
// beside this one) start helpers of their own.
func TestNetHelperDiesWithSandbox(t *testing.T) {
	requires(t, UserNS)
	cases := []struct {
		name, script string
		code         int
	}{
		{"normal exit", "sleep 1", 0},
		{"command killed", "sleep 1; kill -9 $$", 137},
		{"sandbox SIGKILLed", "sleep 60", -1},
	}
	for _, m := range userModes {
		for _, c := range cases {
			t.Run(m.mode+"/"+c.name, func(t *testing.T) {
				requiresHelper(t, m.mode)
				cmd := exec.Command(bin, "--net", m.mode, "--", "sh", "-c", c.script)
				cmd.Dir = workdir(t)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill() })
				var helpers []int
				waitFor(t, func() bool {
					helpers = helpersBelow(cmd.Process.Pid, m.comm)
					return len(helpers) > 0
				}, m.mode+" to start")
				if c.code < 0 {
					_ = cmd.Process.Kill()
				}
				err := cmd.Wait()
				if c.code >= 0 {
					if got := cmd.ProcessState.ExitCode(); got != c.code {
						t.Fatalf("exit %d (%v), want %d", got, err, c.code)
					}
					// Gone the moment sandbox is: it waited for them.
					if left := present(helpers); len(left) > 0 {
						t.Errorf("%s left behind: %v", m.mode, left)
					}
					return
				}
				waitFor(t, func() bool { return len(present(helpers)) == 0 }, m.mode+" to end after SIGKILL of sandbox")
			})
		}
	}
}

// helpersBelow lists the processes below pid whose name starts as comm's
// (pasta shows as passt.avx2; sandbox-netstack's name is cut to 15 bytes).
func helpersBelow(root int, comm string) []int {
	prefix := comm
	if comm == "pasta" {
		prefix = "pas"
	}
	parent := map[int]int{}
	name := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so from the last ')'
		st := string(b)
		i := strings.LastIndexByte(st, ')')
		j := strings.IndexByte(st, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(st[i+1:])
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		name[pid] = st[j+1 : i]
	}
	var out []int
	for pid, n := range name {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// present lists which of pids still exist (a zombie too).
func present(pids []int) []int {
	var out []int
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// freePort finds a host port nobody listens on (for the test's moment).
func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A server inside on a published port answers from the host, over TCP and
// UDP, in every mode with its own network namespace (none needs no helper).
func TestNetPublish(t *testing.T) {
	requires(t, UserNS)
	modes := []string{"none"}
	for _, m := range userModes {
		modes = append(modes, m.mode)
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			if mode != "none" {
				requiresHelper(t, mode)
			}
			tp, up := freePort(t, "tcp"), freePort(t, "udp")
			cmd := exec.Command(bin, "--net", mode, "-p", fmt.Sprintf("%d:8000", tp), "-p", fmt.Sprintf("127.0.0.1:%d:8001/udp", up),
				"--", "sh", "-c", probe+" echo udp 127.0.0.1:8001 & exec "+probe+" echo tcp 127.0.0.1:8000")
			cmd.Dir = workdir(t)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			sc := bufio.NewScanner(out)
			for i := 0; i < 2; i++ {
				if !sc.Scan() || sc.Text() != "listening" {
					t.Fatalf("the servers inside did not start: %q %s", sc.Text(), stderr.String())
				}
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tp), 5*time.Second)
			if err != nil {
				t.Fatalf("connect to the published TCP port: %v", err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintln(c, "over tcp")
			if got, err := bufio.NewReader(c).ReadString('\n'); got != "echo: over tcp\n" {
				t.Errorf("published TCP port answered %q, %v", got, err)
			}
			u, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", up))
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			buf := make([]byte, 100)
			got := ""
			for i := 0; i < 5 && got == ""; i++ { // UDP may drop
				_, _ = u.Write([]byte("over udp"))
				_ = u.SetReadDeadline(time.Now().Add(time.Second))
				if n, err := u.Read(buf); err == nil {
					got = string(buf[:n])
				}
			}
			if got != "echo: over udp" {
				t.Errorf("published UDP port answered %q", got)
			}
		})
	}
}

// Publishing a port only root may bind, one already in use, or a bad spec is
// a one-line error, exit 125, before anything runs.
func TestNetPublishBadInput(t *testing.T) {
	requires(t, UserNS)
	busy := hostListener(t, "tcp", "127.0.0.1:0").Addr().(*net.TCPAddr).Port
	cases := map[string][]string{
		"in use":      {"-p", fmt.Sprintf("127.0.0.1:%d:80", busy)},
		"bad spec":    {"-p", ":80"},
		"bad proto":   {"-p", "18080:80/sctp"},
		"bad port":    {"-p", "18080:70000"},
		"not an IP":   {"-p", "host:18080:80"},
		"twice":       {"-p", "18080:80", "-p", "18080:81"},
		"overlap":     {"-p", "18080-18081:80-81", "-p", "18081:82"},
		"range sizes": {"-p", "18080-18081:80"},
		"--net host":  {"--net", "host", "-p", "18080:80"},
		"not on host": {"-p", "192.0.2.1:18080:80"},
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start > 80 {
		cases["privileged"] = []string{"-p", "80:80"}
	}
	for name, args := range cases {
		r := sandbox(t, "", nil, append(args, "--", "echo", "ran")...)
		if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "--publish") {
			t.Errorf("%s %q: exit %d, %q; want 125 and one line naming --publish", name, args, r.code, r.stderr)
		}
		if strings.Contains(r.stdout, "ran") {
			t.Errorf("%s: the command ran", name)
		}
	}
}

// checkIPv6: pasta (as the host has it) and slirp4netns (fd00::/64, by
// router advertisement) carry IPv6, --net gvisor does not: the test host's
// IPv6 address answers, the host's ::1 does not, directly or through
// slirp4netns's gateway fd00::2.
func checkIPv6(t *testing.T, args []string) {
	t.Helper()
	host6 := os.Getenv("SANDBOX_TEST_HOST6")
	if host6 == "" {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal("SANDBOX_TEST_HOST6 is not set: .ci/run gives the test host an IPv6 address")
		}
		t.Skip("requires SANDBOX_TEST_HOST6=[IP]:PORT: the test host of SANDBOX_TEST_HOST on IPv6 (.ci/run gives it one)")
	}
	if got := connectInside(t, args, "connect", host6); got != "connect ok hello-from-test-host" {
		t.Errorf("%v: the test host over IPv6 %s: %q", args, host6, got)
	}
	l := hostListener(t, "tcp6", "[::1]:0")
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	for _, addr := range []string{"[::1]:" + port, "[fd00::2]:" + port} {
		if got := connectInside(t, args, "connect", addr); strings.HasPrefix(got, "connect ok") {
			t.Errorf("%v reached the host's [::1]:%s through %s: %q", args, port, addr, got)
		}
	}
}

// --net user says under --verbose which stack it took (pasta first, as
// installed here), and every stack takes --mtu and --cidr: the tap shows the
// MTU, the sandbox is .100 of the subnet, and resolv.conf names its DNS.
func TestNetUserPickAndConfig(t *testing.T) {
	requires(t, UserNS)
	requiresHelper(t, "pasta")
	r := sandbox(t, "", nil, "--verbose", "--net", "user", "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "--net user: using pasta") {
		t.Errorf("--net user -v: exit %d, stderr %q; want it to say it uses pasta", r.code, r.stderr)
	}
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			requiresHelper(t, m.mode)
			r := sandbox(t, "", nil, "--net", m.mode, "--mtu", "1500", "--cidr", "10.9.8.0/24", "--",
				"sh", "-c", "ip -o link show tap0; ip -4 -o addr show tap0; grep nameserver /etc/resolv.conf")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			dns := "10.9.8.3"
			if m.mode == "gvisor" {
				dns = "10.9.8.2"
			}
			for _, want := range []string{"mtu 1500 ", "inet 10.9.8.100/24", "nameserver " + dns} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("--mtu 1500 --cidr 10.9.8.0/24: want %q in:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// A range publishes each port of it: two servers inside, on consecutive
// ports, answer on the two host ports of the range.
func TestNetPublishRange(t *testing.T) {
	requires(t, UserNS)
	first := freeRange(t, 2)
	cmd := exec.Command(bin, "-p", fmt.Sprintf("127.0.0.1:%d-%d:8000-8001", first, first+1),
		"--", "sh", "-c", probe+" echo tcp 127.0.0.1:8001 & exec "+probe+" echo tcp 127.0.0.1:8000")
	cmd.Dir = workdir(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for i := 0; i < 2; i++ {
		if !sc.Scan() {
			t.Fatal("the servers inside did not start")
		}
	}
	for k := 0; k < 2; k++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", first+k), 5*time.Second)
		if err != nil {
			t.Fatalf("connect to host port %d of the range: %v", first+k, err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "port %d\n", k)
		if got, _ := bufio.NewReader(c).ReadString('\n'); got != fmt.Sprintf("echo: port %d\n", k) {
			t.Errorf("host port %d answered %q", first+k, got)
		}
		c.Close()
	}
}

// freeRange finds n consecutive TCP ports of 127.0.0.1 nobody listens on.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		first := freePort(t, "tcp")
		if first+n > 65535 {
			continue
		}
		ok := true
		for k := 1; k < n && ok; k++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first+k))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatal("no free range of host ports")
	return 0
}

// -p PORT (podman's form) leaves the host port to the kernel and says which
// on stderr; a server inside answers there.
func TestNetPublishPickedPort(t *testing.T) {
	requires(t, UserNS)
	cmd := exec.Command(bin, "-p", "127.0.0.1::8000", "--", probe, "echo", "tcp", "127.0.0.1:8000")
	cmd.Dir = workdir(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(errOut).ReadString('\n')
	var port int
	if _, err := fmt.Sscanf(line, "sandbox: --publish 127.0.0.1::8000/tcp: host port %d\n", &port); err != nil || port <= 0 {
		t.Fatalf("stderr %q: want the picked host port (%v)", line, err)
	}
	if sc := bufio.NewScanner(out); !sc.Scan() {
		t.Fatal("the server inside did not start")
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatalf("connect to the picked host port %d: %v", port, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, "picked")
	if got, _ := bufio.NewReader(c).ReadString('\n'); got != "echo: picked\n" {
		t.Errorf("picked host port %d answered %q", port, got)
	}
}

// The host's own addresses are closed in the user modes unless
// --allow-host-loopback: a service the host binds to every address (a
// database on 0.0.0.0) would otherwise answer at the host's LAN address,
// since the stack connects from the host. A root inside without
// CAP_NET_ADMIN cannot remove the rules that close them.
func TestNetHostAddrsClosed(t *testing.T) {
	requires(t, UserNS)
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ip = n.IP.String()
			break
		}
	}
	if ip == "" {
		t.Skip("this machine has no IPv4 address besides loopback")
	}
	l := hostListener(t, "tcp4", "0.0.0.0:0")
	addr := net.JoinHostPort(ip, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			requiresHelper(t, m.mode)
			if got := connectInside(t, []string{"--net", m.mode}, "connect", addr); strings.HasPrefix(got, "connect ok") {
				t.Errorf("--net %s reached the host's own %s: %q", m.mode, addr, got)
			}
			if got := connectInside(t, []string{"--net", m.mode, "--allow-host-loopback"}, "connect", addr); got != "connect ok hello-from-host" {
				t.Errorf("--net %s --allow-host-loopback: the host's own %s: %q", m.mode, addr, got)
			}
		})
	}
	r := sandbox(t, "", nil, "--uid", "0", "--net", "slirp4netns", "--", "ip", "rule", "del", "to", ip, "prohibit")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("root inside, removing the rule that closes %s: exit %d, %q; want EPERM", ip, r.code, r.stderr)
	}
}

// --net gvisor's companion, missing or built with cgo (it could not confine
// every thread), is a one-line error naming the fix, exit 125, and the
// command does not run.
func TestNetGvisorNetstackErrors(t *testing.T) {
	requires(t, UserNS)
	dir := t.TempDir()
	lone := filepath.Join(dir, "sandbox")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func() result {
		t.Helper()
		cmd := exec.Command(lone, "--net", "gvisor", "--", "echo", "ran")
		cmd.Dir = workdir(t)
		cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{stdout: out.String(), stderr: errb.String(), code: code}
	}
	r := run()
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "sandbox-netstack not found") || !strings.Contains(r.stderr, "CGO_ENABLED=0 go build") || strings.Contains(r.stdout, "ran") {
		t.Errorf("no sandbox-netstack: exit %d, %q, %q; want 125 and one line naming the fix", r.code, r.stderr, r.stdout)
	}

	build := exec.Command("go", "build", "-o", filepath.Join(dir, "sandbox-netstack"), "./network/sandbox-netstack")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("build sandbox-netstack with cgo (needs gcc): %v: %s", err, out)
		}
		t.Skipf("build sandbox-netstack with cgo (needs gcc): %v", err)
	}
	r = run()
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "CGO_ENABLED=0") || strings.Contains(r.stdout, "ran") {
		t.Errorf("sandbox-netstack built with cgo: exit %d, %q; want 125 and one line naming CGO_ENABLED=0", r.code, r.stderr)
	}
}

// -p caps the connections that wait for the sandbox to take them (issue 22):
// a command that listens but never accepts (backlog 1) and 400 connections to
// its published port. sandbox's descriptors stay far below one per
// connection (before the cap, 400 connections left it holding 425), the
// connections beyond the cap are reset, and --verbose says so.
func TestNetPublishCapsPending(t *testing.T) {
	requires(t, UserNS)
	hp := freePort(t, "tcp")
	cmd := exec.Command(bin, "--verbose", "-p", fmt.Sprintf("127.0.0.1:%d:8000", hp), "--", probe, "hold", "127.0.0.1:8000")
	cmd.Dir = workdir(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "listening" {
		stop()
		t.Fatalf("the server inside did not start: %s", stderr.String())
	}
	base := countFDs(t, cmd.Process.Pid)
	const n = 400
	var conns []net.Conn
	reset := 0
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hp), 5*time.Second)
		switch {
		case err != nil && strings.Contains(err.Error(), "reset by peer"):
			reset++
		case err != nil:
			t.Fatalf("connection %d: %v", i, err)
		default:
			conns = append(conns, c)
		}
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	time.Sleep(time.Second) // the last ones accepted and dialled or refused
	held := countFDs(t, cmd.Process.Pid) - base
	// Each read on its own goroutine: once a deadline has passed, Go does
	// not even look for the reset that may be waiting.
	refused := make(chan bool, len(conns))
	for _, c := range conns {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			refused <- err != nil && !(errors.As(err, &ne) && ne.Timeout())
		}()
	}
	for range conns {
		if <-refused {
			reset++
		}
	}
	stop()
	if held > 200 {
		t.Errorf("%d connections that the sandbox never takes: sandbox holds %d more descriptors, want at most 200 (the cap is 128)", n, held)
	}
	if reset < n-200 {
		t.Errorf("%d connections, %d reset; want at least %d refused beyond the cap", n, reset, n-200)
	}
	if !strings.Contains(stderr.String(), "wait for the sandbox to take them; refusing new ones") {
		t.Errorf("--verbose does not say it refuses connections; its stderr ends:\n%s", tailOf(stderr.String(), 2000))
	}
	t.Logf("%d connections: %d reset, sandbox holds %d more descriptors", n, reset, held)
}

// countFDs counts the descriptors of process pid.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count the descriptors of sandbox: %v", err)
	}
	return len(ents)
}

// tailOf is the last n bytes of s.
func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
