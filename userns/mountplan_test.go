package userns

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseBind(t *testing.T) {
	cases := []struct {
		spec, cwd string
		want      Mount
		err       bool
	}{
		{"/a", "/w", Mount{Kind: Bind, Src: "/a", Dst: "/a"}, false},
		{"rel/x", "/w", Mount{Kind: Bind, Src: "/w/rel/x", Dst: "/w/rel/x"}, false},
		{"/a/../b:/c/./d", "/w", Mount{Kind: Bind, Src: "/b", Dst: "/c/d"}, false},
		{"/a:rel", "/w", Mount{}, true},
		{":/x", "/w", Mount{}, true},
		{"/a\nb", "/w", Mount{}, true},
		{"/a\x00", "/w", Mount{}, true},
	}
	for _, c := range cases {
		got, err := ParseBind(c.spec, c.cwd, false)
		if (err != nil) != c.err || (!c.err && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("ParseBind(%q) = %+v, %v; want %+v, err %v", c.spec, got, err, c.want, c.err)
		}
	}
	if m, _ := ParseBind("/a", "/", true); !m.ReadOnly {
		t.Error("read-only lost")
	}
}

func TestParseTmpfs(t *testing.T) {
	if _, err := ParseTmpfs("rel"); err == nil {
		t.Error("relative tmpfs accepted")
	}
	if m, err := ParseTmpfs("/x/"); err != nil || m.Dst != "/x" || m.Kind != Tmpfs {
		t.Errorf("ParseTmpfs(/x/) = %+v, %v", m, err)
	}
}

func TestBasePlanOrder(t *testing.T) {
	p := BasePlan("/run/user/1000")
	if p[0].Kind != Proc || p[0].Dst != "/proc" {
		t.Errorf("first step must be /proc, got %v", p[0])
	}
	if last := p[len(p)-1]; last.Dst != "/run" || last.Kind != Tmpfs {
		t.Errorf("/run not covered: %v", last)
	}
	p = BasePlan("/home/u/.run")
	if last := p[len(p)-1]; last.Dst != "/home/u/.run" || last.Kind != Tmpfs || !last.Optional {
		t.Errorf("a runtime dir outside /run not covered: %v", last)
	}
}

// FuzzParseBind: any --rw/--ro value gives a clean error or an absolute,
// clean source and destination without NUL or newline.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/a", "rel:/x", "/a:/b:/c", ":", "/a\nb", "../../x:/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		m, err := ParseBind(spec, "/w", false)
		if err != nil {
			return
		}
		for _, p := range []string{m.Src, m.Dst} {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
				t.Fatalf("ParseBind(%q) = %+v: not a clean absolute path", spec, m)
			}
		}
	})
}
