package escape

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// The host's link-local addresses are closed in every user mode, as its other
// addresses are (issue 13, E2). pasta gives the sandbox the host's link-local
// address as its router's, and carried a connection to fe80::X%tap0 to the
// host's own fe80::X, where a service listening on [::] answered: the
// unreachable routes that closed the host's addresses were skipped for a
// link-local destination with a scope. A listener on [::] is tried through
// every link-local address of every host interface (IPv6, and IPv4's
// 169.254/16 where the host has one), in each user mode: the attempt must fail
// with EACCES, the answer of the rule that closes it, not by chance of the
// stack. The control, --allow-host-loopback, lifts the rule (no EACCES), and
// with pasta the address of the host's uplink answers.
func TestHostLinkLocalClosed(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	addrs := hostLinkLocal()
	if len(addrs) == 0 {
		// The test cannot make one on the host (a veth pair needs
		// CAP_NET_ADMIN in the host's network namespace).
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal("no interface of this host has a link-local address to try (SANDBOX_TESTS_MUST_WORK=1)")
		}
		t.Skip("no interface of this host has a link-local address to try")
	}
	port := listen(t, "tcp", "[::]:0").Addr().(*net.TCPAddr).Port
	uplink := pastaTemplateLinkLocal()
	for _, m := range []struct {
		mode  string
		needs []Feature
	}{{"pasta", []Feature{Pasta}}, {"slirp4netns", []Feature{Slirp4netns}}, {"gvisor", nil}} {
		t.Run(m.mode, func(t *testing.T) {
			requires(t, m.needs...)
			blocked := tryLinkLocal(t, []string{"--net", m.mode}, addrs, port)
			for i, a := range addrs {
				if got := blocked[i]; got != "EACCES" {
					esc := ""
					if strings.HasPrefix(got, "OK") {
						esc = "ESCAPE: "
					}
					t.Errorf("%s--net %s: connect to the host's %s port %d: %s, want EACCES (the rule that closes it)", esc, m.mode, a, port, got)
				}
			}
			open := tryLinkLocal(t, []string{"--net", m.mode, "--allow-host-loopback"}, addrs, port)
			for i, a := range addrs {
				got := open[i]
				switch {
				case got == "EACCES":
					t.Errorf("control: --net %s --allow-host-loopback: connect to %s: still EACCES: the rule is not the flag's to lift", m.mode, a)
				case m.mode == "pasta" && uplink[a] && got != "OK hello-from-host":
					t.Errorf("control: --net pasta --allow-host-loopback: the host's uplink address %s did not answer (%s): the refusals above prove nothing", a, got)
				default:
					t.Logf("control: --net %s --allow-host-loopback: %s: %s", m.mode, a, got)
				}
			}
		})
	}
}

// tryLinkLocal connects from inside to each of addrs on port, through tap0
// for an IPv6 one, and returns escapee's answers in order. It first waits
// (up to 5 s) for tap0's own link-local address to pass duplicate address
// detection, which a connection from a tentative address would wait for.
func tryLinkLocal(t *testing.T, args, addrs []string, port int) []string {
	t.Helper()
	script := `i=0; until ip -6 -o addr show dev tap0 scope link | grep -v tentative | grep -q fe80; do
	i=$((i+1)); [ $i -gt 50 ] && break; sleep 0.1; done`
	for _, a := range addrs {
		target := net.JoinHostPort(a, fmt.Sprint(port))
		if strings.Contains(a, ":") {
			target = net.JoinHostPort(a+"%tap0", fmt.Sprint(port))
		}
		script += fmt.Sprintf("\n%s connect tcp '%s'", escapee, target)
	}
	r := must(t, append(args, "--", "sh", "-c", script)...)
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "connect "); ok {
			got = append(got, strings.TrimSpace(rest))
		}
	}
	if len(got) != len(addrs) {
		t.Fatalf("%v: %d answers for %d addresses:\n%s", args, len(got), len(addrs), r)
	}
	return got
}

// hostLinkLocal lists the link-local addresses of every interface of this
// host (IPv6 fe80::/10, IPv4 169.254/16), loopback aside.
func hostLinkLocal() []string {
	ifs, _ := net.Interfaces()
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsLinkLocalUnicast() {
				out = append(out, n.IP.String())
			}
		}
	}
	return out
}

// pastaTemplateLinkLocal is the set of link-local addresses of the interface
// that holds the host's IPv6 default route: pasta's template, whose
// link-local address it connects to when asked (--allow-host-loopback).
func pastaTemplateLinkLocal() map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile("/proc/net/ipv6_route")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		// dest dest-len src src-len next-hop metric ref use flags dev
		f := strings.Fields(l)
		if len(f) != 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" || f[9] == "lo" {
			continue
		}
		i, err := net.InterfaceByName(f[9])
		if err != nil {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsLinkLocalUnicast() && n.IP.To4() == nil {
				out[n.IP.String()] = true
			}
		}
		break
	}
	return out
}
