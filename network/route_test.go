package network

import "testing"

func TestDefaultRoutes(t *testing.T) {
	const v4 = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
`
	const v4None = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
`
	// ip route add unreachable default
	const v4Reject = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
*	00000000	00000000	0201	0	0	0	00000000	0	0	0
`
	for _, c := range []struct {
		name, table, dev string
		want             bool
	}{
		{"default", v4, "", true},
		{"on eth0", v4, "eth0", true},
		{"on tap0", v4, "tap0", false},
		{"none", v4None, "", false},
		{"unreachable", v4Reject, "", false},
		{"empty", "", "", false},
	} {
		if got := defaultRoute4(c.table, c.dev); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
