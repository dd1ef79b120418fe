package layers

import (
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	for p, want := range map[string]string{
		"/":           "%2F",
		"/root":       "%2Froot",
		"/home/u":     "%2Fhome%2Fu",
		"/a%b/%2F":    "%2Fa%25b%2F%252F",
		"/x y\nz":     "%2Fx y\nz",
		"/.ephemeral": "%2F.ephemeral",
	} {
		if got := encodeKey(p); got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", p, got, want)
		}
		if back, ok := decodeKey(want); !ok || back != p {
			t.Errorf("decodeKey(%q) = %q, %v", want, back, ok)
		}
	}
	long := "/" + strings.Repeat("d/", 100) + "x"
	k := encodeKey(long)
	if !strings.HasPrefix(k, hashedKeyPrefix) || len(k) > maxKeyLen {
		t.Errorf("long path key = %q", k)
	}
	if _, ok := decodeKey(k); ok {
		t.Error("a hashed key decoded")
	}
	for _, bad := range []string{"", "%2", "%zz", "a/b", "%2Fa%2F", "x", "%2F..%2Fx"} {
		if p, ok := decodeKey(bad); ok {
			t.Errorf("decodeKey(%q) = %q, want failure", bad, p)
		}
	}
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"/", "/home/u", "/a%b", "/%2F", "/x/y/z", "/" + strings.Repeat("ab/", 90)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkHostPath(p) != nil {
			return
		}
		k := encodeKey(p)
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") || len(k) > 255 {
			t.Fatalf("encodeKey(%q) = %q: not one path component", p, k)
		}
		back, ok := decodeKey(k)
		if strings.HasPrefix(k, hashedKeyPrefix) {
			if ok {
				t.Fatalf("hashed key %q decoded to %q", k, back)
			}
			return
		}
		if !ok || back != p {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", p, back, ok)
		}
	})
}
