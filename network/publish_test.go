package network

import (
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	good := map[string]Port{
		"8080:80":             {HostPort: 8080, Port: 80, Proto: "tcp"},
		"8080:80/udp":         {HostPort: 8080, Port: 80, Proto: "udp"},
		"127.0.0.1:8080:80":   {HostIP: "127.0.0.1", HostPort: 8080, Port: 80, Proto: "tcp"},
		"[::1]:8080:80/tcp":   {HostIP: "::1", HostPort: 8080, Port: 80, Proto: "tcp"},
		"0.0.0.0:1:65535/udp": {HostIP: "0.0.0.0", HostPort: 1, Port: 65535, Proto: "udp"},
	}
	for in, want := range good {
		got, err := ParsePort(in)
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		again, err := ParsePort(got.String())
		if err != nil || again != got {
			t.Errorf("ParsePort(%q.String() = %q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "80", "80/tcp", ":80", "8080:", "a:80", "8080:0", "8080:65536", "8080:80/sctp",
		"host:8080:80", "1.2.3:8080:80", "::1:8080:80x", "8080:80/"} {
		if p, err := ParsePort(in); err == nil {
			t.Errorf("ParsePort(%q) = %+v, want an error", in, p)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--publish") {
			t.Errorf("ParsePort(%q): %q, want one line naming --publish", in, err)
		}
	}
}

func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"8080:80", "[::1]:1:2/udp", "1.2.3.4:5:6/tcp", ":::", "[]:1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePort(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", s)
			}
			return
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.Port < 1 || p.Port > 65535 || (p.Proto != "tcp" && p.Proto != "udp") {
			t.Fatalf("ParsePort(%q) accepted %+v", s, p)
		}
		if q, err := ParsePort(p.String()); err != nil || q != p {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, p, p.String(), q, err)
		}
	})
}
