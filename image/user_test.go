package image

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestUserAndGroups(t *testing.T) {
	base, top := t.TempDir(), t.TempDir()
	write := func(root, rel, s string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base, "etc/passwd", "root:x:0:0::/root:/bin/sh\n")
	write(top, "etc/passwd", "root:x:0:0::/root:/bin/sh\nu:x:1000:100:u:/home/u:/bin/sh\nv:x:1001:1001::/:/bin/sh\n")
	write(top, "etc/group", "root:x:0:\nusers:x:100:u\nwheel:x:10:root,u\ndev:x:20:x,u,y\nbad:x:no:u\nother:x:30:uu\nagain:x:10:u\n")
	layers := []string{base, top} // bottom first
	for _, c := range []struct {
		user     string
		uid, gid uint32
		groups   []uint32
	}{
		{"u", 1000, 100, []uint32{10, 20}}, // the primary group once, as gid
		{"1000", 1000, 100, []uint32{10, 20}},
		{"u:dev", 1000, 20, []uint32{100, 10}},
		{"v", 1001, 1001, nil},
		{"4242", 4242, 0, nil}, // no passwd entry: no groups
		{"root", 0, 0, []uint32{10}},
	} {
		uid, gid, err := ResolveUser(layers, c.user)
		if err != nil || uid != c.uid || gid != c.gid {
			t.Errorf("ResolveUser(%q) = %d, %d, %v; want %d, %d", c.user, uid, gid, err, c.uid, c.gid)
			continue
		}
		if g := Groups(layers, uid, gid); !slices.Equal(g, c.groups) {
			t.Errorf("Groups(%q) = %v, want %v", c.user, g, c.groups)
		}
	}
}
