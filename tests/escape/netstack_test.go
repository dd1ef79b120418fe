package escape

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With --net gvisor the host's loopback stays out of reach even for a raw
// frame. gvisor-tap-vsock's forwarders net.Dial, on the host, the destination
// the sandbox's packet carries, as given; gvisor itself drops 127/8 from the
// NIC and TCP to 0.0.0.0, but UDP to 0.0.0.0 is dialled as "0.0.0.0:PORT",
// which on Linux is the host's loopback. The sandbox's kernel never routes
// such a packet to tap0, but root inside keeps CAP_NET_RAW (Docker's default
// capabilities) and can write any frame through a packet socket: found by
// hand, a UDP datagram to 0.0.0.0 reached a listener on the host's 127.0.0.1.
// sandbox-netstack's filter drops IPv4 to 0/8 and 127/8, and TCP/UDP to the
// gateway other than DNS (without --allow-host-loopback). escapee writes the
// frame to 0.0.0.0, 127.0.0.1 and the gateway 10.0.2.2, aimed at a UDP
// listener on the host's 127.0.0.1: nothing may arrive. The host's own other
// addresses are closed the same way (a service bound to every address would
// answer there): a frame to a listener on one may not arrive either. escapee
// must say it sent each one, and the control, the same frame to that
// listener with --allow-host-loopback, must arrive: else the test would prove
// nothing.
func TestNetstackHostLoopbackRaw(t *testing.T) {
	requires(t, UserNS, Fuse)
	guard(t)
	lo := udpSink(t, "127.0.0.1:0")
	for _, dst := range []string{"0.0.0.0", "127.0.0.1", "10.0.2.2"} {
		tok := "secret-" + token()
		r := must(t, "--uid", "0", "--net", "gvisor", "--", escapee, "rawudp", "tap0", dst, lo.port, tok)
		if got := r.get("rawudp"); got != "OK" {
			t.Errorf("rawudp to %s:%s: %s, want OK: the frame was not sent, so nothing is proved\n%s", dst, lo.port, got, r)
			continue
		}
		if got := lo.collect(time.Second); len(got) > 0 {
			t.Errorf("ESCAPE: a raw UDP frame to %s:%s reached the host's 127.0.0.1:%s (sent %q): got %q", dst, lo.port, lo.port, tok, got)
		}
	}

	ip := firstIPv4()
	if ip == "" {
		t.Skip("this machine has no IPv4 address besides loopback to receive the raw frame")
	}
	ext := udpSink(t, net.JoinHostPort(ip, "0"))
	tok := "secret-" + token()
	r := must(t, "--uid", "0", "--net", "gvisor", "--", escapee, "rawudp", "tap0", ip, ext.port, tok)
	if got := r.get("rawudp"); got != "OK" {
		t.Errorf("rawudp to the host's %s:%s: %s, want OK\n%s", ip, ext.port, got, r)
	} else if got := ext.collect(time.Second); len(got) > 0 {
		t.Errorf("ESCAPE: a raw UDP frame reached the host's own address %s:%s (sent %q): got %q", ip, ext.port, tok, got)
	}

	// The control: the raw path works, so the silence above is the filter's.
	tok = "secret-" + token()
	r = must(t, "--uid", "0", "--net", "gvisor", "--allow-host-loopback", "--", escapee, "rawudp", "tap0", ip, ext.port, tok)
	if got := r.get("rawudp"); got != "OK" {
		t.Fatalf("control: rawudp to %s:%s: %s, want OK\n%s", ip, ext.port, got, r)
	}
	if got := ext.collect(3 * time.Second); !contains(got, tok) {
		t.Errorf("control: the raw frame to %s:%s did not arrive (got %q): the cases above prove nothing\n%s", ip, ext.port, got, r)
	} else {
		t.Logf("control: the raw frame to %s:%s arrived: %q", ip, ext.port, got)
	}
}

// sink is a UDP listener on the host that keeps what arrives.
type sink struct {
	port string
	got  chan string
}

func udpSink(t *testing.T, addr string) *sink {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("listen on the host: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	s := &sink{port: fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port), got: make(chan string, 100)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case s.got <- fmt.Sprintf("%s from %s", buf[:n], from):
			default:
			}
		}
	}()
	return s
}

// collect returns what arrived by now and within d.
func (s *sink) collect(d time.Duration) []string {
	var out []string
	end := time.After(d)
	for {
		select {
		case m := <-s.got:
			out = append(out, m)
		case <-end:
			return out
		}
	}
}

func contains(msgs []string, tok string) bool {
	for _, m := range msgs {
		if strings.HasPrefix(m, tok+" ") {
			return true
		}
	}
	return false
}

// firstIPv4 is the first IPv4 address of this machine that is not loopback,
// or "".
func firstIPv4() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// sandbox-netstack parses every packet the sandbox sends, as the user and
// outside every namespace, so it confines itself once set up: Landlock lets it
// open nothing but the resolver's files, and every thread has no_new_privs and
// the default seccomp filter. Its --check-confinement mode confines itself as
// it does for real and then tries what a bug reached from inside would: read a
// secret of the user's, write beside it, truncate it, run a program. Landlock
// before Linux 6.2 has no truncate right, so truncate(2) on a path must meet
// sandbox-netstack's own seccomp rule: EPERM on every kernel (Landlock would
// say EACCES), and the secret keeps its bytes; ftruncate(2) on a memfd of its
// own, which no Landlock rule guards, is refused the same way.
func TestNetstackConfined(t *testing.T) {
	requires(t, Landlock)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(filepath.Dir(bin), "sandbox-netstack"), "--check-confinement", secret).CombinedOutput()
	if err != nil {
		t.Fatalf("sandbox-netstack --check-confinement: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		what, res, _ := strings.Cut(l, " ")
		got[what] = res
	}
	for _, what := range []string{"read", "write", "exec"} {
		if !strings.Contains(got[what], "permission denied") {
			t.Errorf("confined sandbox-netstack: %s: %q, want permission denied:\n%s", what, got[what], out)
		}
	}
	for _, what := range []string{"truncate", "ftruncate"} {
		if !strings.Contains(got[what], "operation not permitted") {
			t.Errorf("confined sandbox-netstack: %s: %q, want operation not permitted (its seccomp rule):\n%s", what, got[what], out)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
		t.Errorf("confined sandbox-netstack changed the secret: %q, %v", b, err)
	}
	if got["resolver"] != "OK" {
		t.Errorf("confined sandbox-netstack cannot read /etc/hosts (its DNS forwarder needs it): %q", got["resolver"])
	}
	if _, err := os.Stat(secret + ".netstack-wrote"); err == nil {
		t.Errorf("confined sandbox-netstack wrote beside the secret")
	}
}
