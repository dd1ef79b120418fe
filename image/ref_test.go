package image

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"docker://busybox:1.36", "docker.io/library/busybox:1.36"},
		{"debian:12", "docker.io/library/debian:12"},
		{"user/repo", "docker.io/user/repo:latest"},
		{"quay.io/a/b:v1", "quay.io/a/b:v1"},
		{"localhost:5000/x", "localhost:5000/x:latest"},
		{"127.0.0.1:5000/x/y:t", "127.0.0.1:5000/x/y:t"},
		{"ghcr.io/x@sha256:" + strings.Repeat("a", 64), "ghcr.io/x@sha256:" + strings.Repeat("a", 64)},
		{"x:1@sha256:" + strings.Repeat("b", 64), "docker.io/library/x@sha256:" + strings.Repeat("b", 64)},
		{"oci:/srv/img", "oci:/srv/img"},
		{"oci:/srv/img:v1", "oci:/srv/img:v1"},
		{"oci-archive:/a.tar:v2", "oci-archive:/a.tar:v2"},
		{"docker-archive:/a.tar", "docker-archive:/a.tar"},
		{"docker-archive:/a.tar:foo:1", "docker-archive:/a.tar:docker.io/library/foo:1"},
	} {
		r, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if r.Name() != c.want {
			t.Errorf("Parse(%q) = %q, want %q", c.in, r.Name(), c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"", "Busybox", "a//b", "-x", "x:", "x:-tag", "x@sha256:abc", "x@md5:" + strings.Repeat("a", 32),
		"dir:/tmp/x", "containers-storage:x", "foo://bar", "oci:", "a\nb", "docker://", "a/b/",
		"docker-archive:/a.tar:Bad", "oci:/a:b/c", "x:" + strings.Repeat("t", 129),
	} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", in, r.Name())
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error of more than one line: %q", in, err)
		}
	}
}

func TestParseLocal(t *testing.T) {
	for in, want := range map[string]string{
		"myimg":         "localhost/myimg:latest",
		"deb:12":        "localhost/deb:12",
		"quay.io/a/b:1": "quay.io/a/b:1",
	} {
		r, err := ParseLocal(in)
		if err != nil || r.Name() != want {
			t.Errorf("ParseLocal(%q) = %q, %v; want %q", in, r.Name(), err, want)
		}
	}
	if _, err := ParseLocal("x@sha256:" + strings.Repeat("a", 64)); err == nil {
		t.Error("ParseLocal took a digest")
	}
}

func TestChainIDs(t *testing.T) {
	a, b := Digest([]byte("a")), Digest([]byte("b"))
	got := ChainIDs([]string{a, b})
	if got[0] != a || got[1] != Digest([]byte(a+" "+b)) {
		t.Errorf("ChainIDs = %v", got)
	}
}
