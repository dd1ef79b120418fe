package network

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	good := map[string][]Port{
		"8080:80":             {{HostPort: 8080, Port: 80, Proto: "tcp"}},
		"8080:80/udp":         {{HostPort: 8080, Port: 80, Proto: "udp"}},
		"127.0.0.1:8080:80":   {{HostIP: "127.0.0.1", HostPort: 8080, Port: 80, Proto: "tcp"}},
		"[::1]:8080:80/tcp":   {{HostIP: "::1", HostPort: 8080, Port: 80, Proto: "tcp"}},
		"0.0.0.0:1:65535/udp": {{HostIP: "0.0.0.0", HostPort: 1, Port: 65535, Proto: "udp"}},
		"8000-8002:9000-9002": {{HostPort: 8000, Port: 9000, Proto: "tcp"}, {HostPort: 8001, Port: 9001, Proto: "tcp"}, {HostPort: 8002, Port: 9002, Proto: "tcp"}},
		"8000-8000:90":        {{HostPort: 8000, Port: 90, Proto: "tcp"}},
		"80":                  {{Port: 80, Proto: "tcp"}},
		"80-81/udp":           {{Port: 80, Proto: "udp"}, {Port: 81, Proto: "udp"}},
		"127.0.0.1::80":       {{HostIP: "127.0.0.1", Port: 80, Proto: "tcp"}},
		"[::1]::80":           {{HostIP: "::1", Port: 80, Proto: "tcp"}},
	}
	for in, want := range good {
		got, err := ParsePorts(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParsePorts(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		for _, p := range got {
			again, err := ParsePorts(p.String())
			if err != nil || len(again) != 1 || again[0] != p {
				t.Errorf("ParsePorts(%q) of %q = %+v, %v", p.String(), in, again, err)
			}
		}
	}
	for _, in := range []string{"", "/tcp", ":80", "::80", "8080:", "a:80", "8080:0", "8080:65536", "8080:80/sctp",
		"host:8080:80", "1.2.3:8080:80", "::1:8080:80x", "8080:80/", "8000-8001:80", "8001-8000:80-79", "8000-:80",
		"-8000:80", "+80:80", "8000-8001-8002:1-3"} {
		if p, err := ParsePorts(in); err == nil {
			t.Errorf("ParsePorts(%q) = %+v, want an error", in, p)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--publish") {
			t.Errorf("ParsePorts(%q): %q, want one line naming --publish", in, err)
		}
	}
}

func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"8080:80", "[::1]:1:2/udp", "1.2.3.4:5:6/tcp", ":::", "[]:1:2", "1-3:4-6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", s)
			}
			return
		}
		if len(ports) == 0 {
			t.Fatalf("ParsePorts(%q): no port and no error", s)
		}
		for _, p := range ports {
			if p.HostPort < 0 || p.HostPort > 65535 || p.Port < 1 || p.Port > 65535 || (p.Proto != "tcp" && p.Proto != "udp") {
				t.Fatalf("ParsePorts(%q) accepted %+v", s, p)
			}
			if q, err := ParsePorts(p.String()); err != nil || len(q) != 1 || q[0] != p {
				t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, p, p.String(), q, err)
			}
		}
	})
}
