package escape

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var imageHelperOnce sync.Once

// imageRun is a run with a store of its own, sandbox-image beside sandbox.
func imageRun(t *testing.T) run {
	t.Helper()
	requires(t, UserNS, SubIDs)
	imageHelperOnce.Do(func() {
		out := filepath.Join(filepath.Dir(bin), "sandbox-image")
		if _, err := os.Stat(out); err == nil {
			return // built already (SANDBOX_TEST_BINARIES)
		}
		cmd := exec.Command("go", "build", "-o", out, "../../image/sandbox-image")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build sandbox-image: %v\n%s", err, b)
		}
	})
	d := workdir(t)
	o := run{env: []string{"XDG_DATA_HOME=" + d}}
	t.Cleanup(func() { o.sandbox(t, "image", "prune") })
	return o
}

type ent struct {
	name, link string
	typ        byte
	body       []byte
}

func tarBytes(t *testing.T, es []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755, ModTime: time.Unix(1700000000, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func userland(t *testing.T) []ent {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("requires busybox (apt install busybox-static)")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	es := []ent{{name: "bin/", typ: tar.TypeDir}, {name: "bin/busybox", typ: tar.TypeReg, body: data}}
	for _, c := range []string{"sh", "cat", "pwd", "ls", "touch", "echo"} {
		es = append(es, ent{name: "bin/" + c, typ: tar.TypeSymlink, link: "busybox"})
	}
	return append(es, ent{name: "proc/", typ: tar.TypeDir}, ent{name: "home/", typ: tar.TypeDir})
}

// TestImageWorkingDirProcLinks: an image's WorkingDir is as untrusted as
// --chdir: /proc/self/fd/N must not give the command a host directory.
func TestImageWorkingDirProcLinks(t *testing.T) {
	o := imageRun(t)
	b := tarBytes(t, userland(t))
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	base, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(secret, "/")
	planted := filepath.Join(home, "escaped-"+token())
	dirs := []string{"/proc/self/cwd", "/proc/1/root", "/proc/self/root/.."}
	for n := 3; n <= 12; n++ {
		dirs = append(dirs, fmt.Sprintf("/proc/self/fd/%d", n))
	}
	lay := filepath.Join(workdir(t), "layout")
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		img, err := mutate.Config(base, v1.Config{WorkingDir: d, Cmd: []string{"sh", "-c",
			`pwd; cat "$1" 2>/dev/null && echo LEAKED; touch "$2" 2>/dev/null; ls -d ./proc/1 2>/dev/null && echo HOSTROOT; echo STARTED`,
			"sh", rel, strings.TrimPrefix(planted, "/")}})
		if err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("w%d", i)
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
			t.Fatal(err)
		}
		r := o.sandbox(t, "--image", "oci:"+lay+":"+tag)
		if _, err := os.Lstat(planted); err == nil {
			os.Remove(planted)
			t.Errorf("WorkingDir %s: ESCAPE: the command created %s on the host", d, planted)
		}
		switch {
		case strings.Contains(r.stdout, "LEAKED"):
			t.Errorf("WorkingDir %s: ESCAPE: the command read %s:\n%s", d, secret, r)
		case r.code == 125:
			if n := len(strings.Split(strings.TrimSpace(r.stderr), "\n")); n != 1 || !strings.Contains(r.stderr, "working directory") {
				t.Errorf("WorkingDir %s: refused, but not with one line naming the working directory:\n%s", d, r)
			}
		case r.code == 0 && strings.Contains(r.stdout, "STARTED"):
			if strings.Contains(r.stdout, "HOSTROOT") && !strings.HasPrefix(r.stdout, "/\n") {
				t.Errorf("WorkingDir %s: started in a root-like directory that is not the image's /:\n%s", d, r)
			}
		default:
			t.Errorf("WorkingDir %s: neither refused (125) nor started:\n%s", d, r)
		}
	}
}

// TestImageLayerEscapes: layer entries that would write outside the layer
// (through a symlink, with "..", absolute, a hard link out) refuse the
// whole image, with one line, and nothing is written on the host; a symlink
// the image keeps resolves inside the sandbox only.
func TestImageLayerEscapes(t *testing.T) {
	o := imageRun(t)
	target := workdir(t) // a host directory the user may write
	up := strings.Repeat("../", 20) + strings.TrimPrefix(target, "/")
	for name, es := range map[string][]ent{
		"symlink to a host dir, then a file through it": {
			{name: "out", typ: tar.TypeSymlink, link: target}, {name: "out/planted", typ: tar.TypeReg, body: []byte("x")}},
		"relative symlink climbing out": {
			{name: "a/", typ: tar.TypeDir}, {name: "a/out", typ: tar.TypeSymlink, link: up}, {name: "a/out/planted", typ: tar.TypeReg, body: []byte("x")}},
		"symlinked parent of a directory entry": {
			{name: "out", typ: tar.TypeSymlink, link: target}, {name: "out/planted/", typ: tar.TypeDir}},
		"dot-dot entry":  {{name: "a/../../../../../../../../../../" + strings.TrimPrefix(target, "/") + "/planted", typ: tar.TypeReg, body: []byte("x")}},
		"absolute entry": {{name: target + "/planted", typ: tar.TypeReg, body: []byte("x")}},
		"hard link out":  {{name: "h", typ: tar.TypeLink, link: "../../../../../../../../../../" + strings.TrimPrefix(secret, "/")}},
		"whiteout through a symlink": {
			{name: "out", typ: tar.TypeSymlink, link: target}, {name: "out/.wh.planted", typ: tar.TypeReg}},
	} {
		f := filepath.Join(workdir(t), "layer.tar")
		if err := os.WriteFile(f, tarBytes(t, es), 0o644); err != nil {
			t.Fatal(err)
		}
		r := o.sandbox(t, "import", f, "esc")
		if r.code != 125 || len(strings.Split(strings.TrimSpace(r.stderr), "\n")) != 1 {
			t.Errorf("%s: want one line and 125:\n%s", name, r)
		}
		if ents, _ := os.ReadDir(target); len(ents) != 0 {
			t.Fatalf("%s: ESCAPE: %s was written on the host", name, filepath.Join(target, ents[0].Name()))
		}
	}
	// A symlink to the host's secret is content: inside, it resolves in the
	// image's root, where there is no such file.
	f := filepath.Join(workdir(t), "ok.tar")
	es := append(userland(t), ent{name: "s", typ: tar.TypeSymlink, link: secret}, ent{name: "d", typ: tar.TypeSymlink, link: strings.Repeat("../", 20) + strings.TrimPrefix(secretDir, "/")})
	if err := os.WriteFile(f, tarBytes(t, es), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := o.sandbox(t, "import", f, "links"); r.code != 0 {
		t.Fatalf("import of an image with symlinks: %s", r)
	}
	r := o.sandbox(t, "--image", "links", "--", "sh", "-c", "cat /s /d/* 2>/dev/null && echo LEAKED; echo done")
	if strings.Contains(r.stdout, "LEAKED") || !strings.Contains(r.stdout, "done") {
		t.Errorf("a symlink in an image reached the host's secret:\n%s", r)
	}
}
