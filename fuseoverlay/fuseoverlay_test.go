package fuseoverlay

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestOwnerOptions(t *testing.T) {
	for _, c := range []struct {
		nu, ng uint32
		want   []string
	}{
		{1, 1, []string{"squash_to_root"}},
		{65536, 1, []string{"squash_to_root"}},
		{0, 0, []string{"squash_to_root"}},
		{65536, 65536, []string{"uidmapping=65534:0:1:0:0:1:1:1:65533:65535:65535:1", "gidmapping=65534:0:1:0:0:1:1:1:65533:65535:65535:1"}},
		{1000, 65535, []string{"uidmapping=65534:0:1:0:0:1:1:1:999", "gidmapping=65534:0:1:0:0:1:1:1:65533"}},
	} {
		if got := ownerOptions(c.nu, c.ng); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ownerOptions(%d, %d) = %q, want %q", c.nu, c.ng, got, c.want)
		}
	}
}

func TestReadMapSize(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		m    string
		want uint32
	}{
		{"         0       1000          1\n", 1},
		{"         0       1000          1\n         1     100000      65536\n", 65537},
		{"         1     100000      65536\n         0       1000          1\n", 65537},
		{"         0       1000          1\n         5     100000      10\n", 1},
		{"", 0},
	} {
		p := filepath.Join(dir, "map")
		if err := os.WriteFile(p, []byte(c.m), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := readMapSize(p); got != c.want {
			t.Errorf("readMapSize(%q) = %d, want %d", c.m, got, c.want)
		}
	}
	if got := readMapSize(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing map: %d", got)
	}
}
