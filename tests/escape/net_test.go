package escape

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen serves one line on every connection to addr (network tcp or unix)
// until the end of the test.
func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	l, err := serve(t, network, addr)
	if err != nil {
		t.Fatalf("listen on the host: %v", err)
	}
	return l
}

func serve(t *testing.T, network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
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
	return l, nil
}

// The default network is a new namespace with only lo: the host's loopback
// listeners and abstract Unix sockets are out of reach; a Unix socket in the
// host's /tmp is not even visible (the sandbox's /tmp is fresh). With
// --share-net (the control) the same listener and abstract socket answer,
// as the README warns.
func TestNetwork(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	tcp := listen(t, "tcp", "127.0.0.1:0").Addr().String()
	abstract := "@escape-" + token()
	listen(t, "unix", abstract)
	path := filepath.Join(os.TempDir(), "escape-"+token()+".sock")
	listen(t, "unix", path) // removed by Close
	for _, c := range []struct {
		mode                []string
		tcp, abstract, sock string
	}{
		{nil, "ECONNREFUSED", "ECONNREFUSED", "ENOENT"},
		{[]string{"--net", "none"}, "ECONNREFUSED", "ECONNREFUSED", "ENOENT"},
		{[]string{"--share-net"}, "OK hello-from-host", "OK hello-from-host", "ENOENT"},
	} {
		for _, a := range [][3]string{{"tcp", tcp, c.tcp}, {"unix", abstract, c.abstract}, {"unix", path, c.sock}} {
			r := must(t, append(c.mode, "--", escapee, "connect", a[0], a[1])...)
			if got := r.get("connect"); got != a[2] {
				t.Errorf("%v: connect %s %s: %s, want %s", c.mode, a[0], a[1], got, a[2])
			}
		}
	}
}

// Path Unix sockets of the host are out of reach as well. Through an overlay
// a socket is another inode, so connect(2) is refused; but a directory the
// sandbox binds from the host is the host's: /run (README: /run stays
// read-only, a bind) holds the system D-Bus, docker.sock, GNU screen's
// sessions (/run/screen/S-USER). The test listens in /run/lock (mode 1777 on
// Debian, and in tests/testenv.sh) and in a host directory seen through the
// /home overlay, and tries up to 3 other sockets under /run that it can
// reach itself. Designed answer: ENOENT or ECONNREFUSED.
func TestHostUnixSocketsOutOfReach(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	var socks []string
	for _, dir := range []string{"/run/lock", workdir(t)} {
		p := filepath.Join(dir, "escape-"+token()+".sock")
		if _, err := serve(t, "unix", p); err != nil {
			t.Logf("cannot listen in %s: %v", dir, err)
			continue
		}
		socks = append(socks, p)
	}
	socks = append(socks, reachableSockets("/run", 3)...)
	if len(socks) < 2 {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("no Unix socket under /run to try (SANDBOX_TESTS_MUST_WORK=1; tests/testenv.sh makes /run/lock writable)")
		}
		t.Skip("no Unix socket under /run to try: /run/lock is not writable here")
	}
	inModes(t, func(t *testing.T, m mode) {
		for _, s := range socks {
			r := must(t, m.with("--", escapee, "connect", "unix", s)...)
			if got := r.get("connect"); !oneOf(got, "ENOENT", "ECONNREFUSED", "EACCES") {
				t.Errorf("%s: ESCAPE: the host's socket %s answered inside: connect %s", m.name, s, got)
			}
		}
	}, defaultMode, root)
}

// reachableSockets lists up to n sockets under dir (outside our runtime
// directory, which the sandbox covers) that we can connect to.
func reachableSockets(dir string, n int) []string {
	var out []string
	skip := os.Getenv("XDG_RUNTIME_DIR")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(out) >= n {
			return filepath.SkipDir
		}
		if d.IsDir() && (p == skip || strings.HasPrefix(p, "/run/user/") || strings.Count(p, "/") > 4) {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSocket == 0 || strings.Contains(p, "/escape-") {
			return nil
		}
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close()
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A published port lets the host in, never the sandbox out: with -p the
// command still cannot reach the host's loopback, and the socket pair over
// which init hands connections to sandbox (fd 5 of init) is not among the
// command's descriptors, nor openable through /proc/1/fd.
func TestPublishOpensNoWayOut(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	tcp := listen(t, "tcp", "127.0.0.1:0").Addr().String()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pub := []string{"-p", fmt.Sprintf("127.0.0.1:%d:9", free)}
	r := must(t, append(pub, "--", escapee, "connect", "tcp", tcp)...)
	if got := r.get("connect"); got != "ECONNREFUSED" {
		t.Errorf("-p: connect to the host's %s: %s, want ECONNREFUSED", tcp, got)
	}
	out := must(t, append(pub, "--", escapee, "fds", "created-"+token())...)
	checkOwnFDs(t, "-p", out)
	if got := out.get("list:/proc/1/fd"); got != "EACCES" {
		t.Errorf("-p: init's descriptors are listable (%s), want EACCES:\n%s", got, out)
	}
}
