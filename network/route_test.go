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
	const v6 = `fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`
	// A namespace with only lo: the kernel's reject default alone.
	const v6None = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
`
	for _, c := range []struct {
		name, table, dev string
		six, want        bool
	}{
		{"v4", v4, "", false, true},
		{"v4 on eth0", v4, "eth0", false, true},
		{"v4 on tap0", v4, "tap0", false, false},
		{"v4 none", v4None, "", false, false},
		{"v4 empty", "", "", false, false},
		{"v6", v6, "", true, true},
		{"v6 none", v6None, "", true, false},
		{"v6 on tap0", v6, "tap0", true, false},
	} {
		got := defaultRoute4(c.table, c.dev)
		if c.six {
			got = defaultRoute6(c.table, c.dev)
		}
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
