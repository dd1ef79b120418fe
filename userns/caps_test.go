package userns

import "testing"

func TestCaps(t *testing.T) {
	const netRaw, sysAdmin = 1 << 13, 1 << 21
	cases := []struct {
		root      bool
		add, drop []string
		want      CapSet
		wantErr   bool
	}{
		{false, nil, nil, 0, false},
		{true, nil, nil, 0xa80425fb, false},
		{true, nil, []string{"ALL"}, 0, false},
		{true, []string{"NET_RAW"}, []string{"ALL"}, netRaw, false},
		{false, []string{"cap_sys_admin"}, nil, sysAdmin, false},
		{true, nil, []string{"net_raw"}, 0xa80425fb &^ netRaw, false},
		{false, []string{"BOGUS"}, nil, 0, true},
		{false, nil, []string{"CAP_"}, 0, true},
		{false, []string{"SYS_PTRACE"}, nil, 0, true},
		{false, []string{"ALL"}, nil, (1<<41 - 1) &^ (1 << 19), false},
	}
	for _, c := range cases {
		got, err := Caps(c.root, c.add, c.drop)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("Caps(%v, %q, %q) = %x, %v; want %x, err %v", c.root, c.add, c.drop, got, err, c.want, c.wantErr)
		}
	}
}
