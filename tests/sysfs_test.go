package tests

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// In its own network namespace the sandbox sees its own network devices in
// /sys/class/net, not the host's with their MAC addresses (issue 19, item
// 10); with --net host it sees the host's. /sys stays read-only.
func TestSysfsOfOwnNetwork(t *testing.T) {
	requires(t, UserNS)
	out := must(t, "--", "sh", "-c", "ls /sys/class/net; touch /sys/x 2>/dev/null && echo WROTE; true")
	if got := strings.Fields(out); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("/sys/class/net inside: %q, want only lo (and /sys read-only)", got)
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var host []string
	for _, e := range ents {
		host = append(host, e.Name())
	}
	out = must(t, "--net", "host", "--", "ls", "/sys/class/net")
	if got := strings.Fields(out); !slices.Equal(got, host) {
		t.Errorf("--net host: /sys/class/net inside: %q, want the host's %q", got, host)
	}
}
