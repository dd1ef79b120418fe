package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// offline runs argv in a user and network namespace of its own, where the
// network has only lo (up): a host with no default route, as a laptop with
// Wi-Fi off. It is root there, mapped to the test's user, so it can bring lo
// up; sandbox runs inside as that root, with --map single (newuidmap is
// setuid root, which does not hold in a user namespace where root is the
// test's user). setup runs first there (sh, ip(8) as "$IP"). env replaces
// PATH when it sets one.
func offline(t *testing.T, env []string, setup string, argv ...string) result {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("requires ip(8) to bring lo up: %v", err)
	}
	cmd := exec.Command("sh", append([]string{"-c", `"$IP" link set lo up && ` + setup + ` exec "$@"`, "sh"}, argv...)...)
	cmd.Dir = workdir(t)
	cmd.Env = append(append(os.Environ(), "IP="+ip), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q in a namespace with only lo: %v", argv, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%q: timed out; stderr: %s", argv, errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode(), cmd.Process.Pid}
}

// On a host without a default route, pasta refuses to start ("No external
// routable interface"): --net user then takes slirp4netns and says so, even
// without -v; --net pasta is a one-line error naming the cause and the fix
// (issue 21); `sandbox check` says which stack --net user takes, and, when
// pasta is the only one installed, the true cause and fix instead of "see the
// other FAIL lines". With an IPv6 default route alone, pasta runs but gives
// the sandbox no IPv4, which --net pasta waited 10 s for: --net user passes
// it over there too.
func TestNetUserOffline(t *testing.T) {
	requires(t, UserNS)
	requiresHelper(t, "pasta")
	requiresHelper(t, "slirp4netns")
	ipv6Only := `"$IP" link add h0 type veth peer name h1 && "$IP" link set h0 up && "$IP" link set h1 up &&
	"$IP" -6 addr add fd10::10/64 dev h0 nodad && "$IP" -6 route add default via fd10::1 dev h0 &&`
	for name, setup := range map[string]string{"only lo": "", "IPv6 default route only": ipv6Only} {
		start := time.Now()
		r := offline(t, nil, setup, bin, "--map", "single", "--net", "user", "--", "sh", "-c", "ip -4 -o addr show tap0")
		if r.code != 0 || !strings.Contains(r.stdout, "inet 10.0.2.100/24") {
			t.Fatalf("%s: --net user: exit %d, stdout %q, stderr %q; want tap0 at 10.0.2.100", name, r.code, r.stdout, r.stderr)
		}
		if want := "sandbox: --net user: pasta needs an IPv4 default route, and this host has none; using slirp4netns\n"; r.stderr != want {
			t.Errorf("%s: --net user: stderr %q, want %q", name, r.stderr, want)
		}
		r = offline(t, nil, setup, bin, "--map", "single", "--net", "pasta", "--", "echo", "ran")
		if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "pasta needs an IPv4 default route") ||
			!strings.Contains(r.stderr, "fix: --net user") || strings.Contains(r.stdout, "ran") {
			t.Errorf("%s: --net pasta: exit %d, stderr %q; want 125 and one line with the cause and the fix", name, r.code, r.stderr)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%s: the two runs took %v: pasta was waited for", name, d)
		}
	}

	if got := checkLineOffline(t, nil, bin); !strings.HasPrefix(got, "ok ") || !strings.Contains(got, "using slirp4netns") {
		t.Errorf("sandbox check without a default route: %q; want ok, saying --net user takes slirp4netns", got)
	}

	// pasta alone: sandbox without sandbox-netstack beside it, and a PATH
	// without slirp4netns.
	dir := workdir(t)
	lone := filepath.Join(dir, "sandbox")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bin")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"pasta", "sh", "true"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(path, tool)); err != nil {
			t.Fatal(err)
		}
	}
	got := checkLineOffline(t, []string{"PATH=" + path}, lone)
	if !strings.HasPrefix(got, "FAIL ") || !strings.Contains(got, "pasta needs an IPv4 default route") || !strings.Contains(got, "fix: apt install slirp4netns") {
		t.Errorf("sandbox check without a default route, pasta alone: %q; want FAIL with the cause and the fix", got)
	}
}

// checkLineOffline runs `sandbox check` (exe) in a namespace with only lo and
// returns its network line, its spaces squeezed.
func checkLineOffline(t *testing.T, env []string, exe string) string {
	t.Helper()
	r := offline(t, append(env, "SANDBOX_CONFIG=/dev/null"), "", exe, "check")
	for _, l := range lines(r.stdout) {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "network" {
			return strings.Join(f, " ")
		}
	}
	t.Fatalf("sandbox check: no network line: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	return ""
}
