package tests

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var buildImageHelper sync.Once

// needImageHelper builds sandbox-image beside sandbox, where sandbox looks
// first (once per test binary).
func needImageHelper(t *testing.T) {
	t.Helper()
	var err error
	buildImageHelper.Do(func() {
		out := filepath.Join(filepath.Dir(bin), "sandbox-image")
		if _, e := os.Stat(out); e == nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", out, "../image/sandbox-image")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var b []byte
		b, err = cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build sandbox-image: %v\n%s", err, b)
		}
	})
}

// imageEnv is an empty store of our own for one test.
func imageEnv(t *testing.T) ([]string, string) {
	t.Helper()
	needImageHelper(t)
	d := workdir(t)
	t.Cleanup(func() {
		// Layers hold files of sub-IDs: sandbox rmi/prune removes them.
		sandbox(t, d, []string{"XDG_DATA_HOME=" + d}, "image", "prune")
	})
	return []string{"XDG_DATA_HOME=" + d}, filepath.Join(d, "sandbox", ".images")
}

type tarEntry struct {
	name, link string
	typ        byte
	mode       int64
	uid        int
	body       []byte
}

func layerOf(t *testing.T, es ...tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(1700000000, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busyboxEntries is a userland of the host's busybox (Debian's
// busybox-static), or the static probe where there is none.
func busyboxEntries(t *testing.T) []tarEntry {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("requires busybox (apt install busybox-static): the image's userland")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	es := []tarEntry{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, body: data},
	}
	for _, c := range []string{"sh", "id", "cat", "ls", "stat", "pwd", "echo", "test", "touch", "mkdir"} {
		es = append(es, tarEntry{name: "bin/" + c, typ: tar.TypeSymlink, link: "busybox"})
	}
	return es
}

// testImage is two layers and a config: a file of another owner, a setuid
// file, a hard link, a symlink, a whiteout and an opaque directory.
func testImage(t *testing.T, cfg v1.Config) v1.Image {
	t.Helper()
	base := append(busyboxEntries(t),
		tarEntry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: []byte("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n")},
		tarEntry{name: "etc/group", typ: tar.TypeReg, mode: 0o644, body: []byte("root:x:0:\nu:x:1000:\nstaff:x:50:\n")},
		tarEntry{name: "home/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "home/u/", typ: tar.TypeDir, mode: 0o750, uid: 1000},
		tarEntry{name: "owned", typ: tar.TypeReg, mode: 0o640, uid: 1234, body: []byte("theirs\n")},
		tarEntry{name: "suid", typ: tar.TypeReg, mode: 0o4755, body: []byte("#!/bin/sh\n")},
		tarEntry{name: "hard", typ: tar.TypeLink, link: "suid"},
		tarEntry{name: "link", typ: tar.TypeSymlink, link: "/etc/passwd"},
		tarEntry{name: "gone", typ: tar.TypeReg, mode: 0o644, body: []byte("x")},
		tarEntry{name: "opq/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "opq/old", typ: tar.TypeReg, mode: 0o644, body: []byte("x")},
	)
	top := []tarEntry{
		{name: ".wh.gone", typ: tar.TypeReg},
		{name: "opq/", typ: tar.TypeDir, mode: 0o755},
		{name: "opq/.wh..wh..opq", typ: tar.TypeReg},
		{name: "opq/new", typ: tar.TypeReg, mode: 0o644, body: []byte("x")},
	}
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, base...), layerOf(t, top...))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// serve pushes img to an in-memory registry on loopback; wrap, when set,
// sits between the registry and the client.
func serve(t *testing.T, repo string, img v1.Image, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/" + repo
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	return ref
}

// writeLayout writes img as an OCI layout tagged tag.
func writeLayout(t *testing.T, dir, tag string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
}

// tarDir writes dir's files as a tar (an oci-archive of a layout).
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	if b, err := exec.Command("tar", "-C", dir, "-cf", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
}

// writeRawTar writes a tar file of entries (a rootfs for sandbox import).
func writeRawTar(t *testing.T, p string, es []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(1700000000, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manyLayers is an image of n layers: busybox at the bottom, then layer i
// adds /l/i, and the top one deletes /l/0.
func manyLayers(t *testing.T, n int) v1.Image {
	t.Helper()
	ls := []v1.Layer{layerOf(t, append(busyboxEntries(t), tarEntry{name: "l/", typ: tar.TypeDir, mode: 0o755})...)}
	for i := 1; i < n-1; i++ {
		ls = append(ls, layerOf(t, tarEntry{name: "l/" + strconv.Itoa(i), typ: tar.TypeReg, mode: 0o644, body: []byte(strconv.Itoa(i) + "\n")}))
	}
	if n > 2 {
		ls = append(ls, layerOf(t, tarEntry{name: "l/.wh.1", typ: tar.TypeReg}))
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}}); err != nil {
		t.Fatal(err)
	}
	return img
}
