package tests

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// A named sandbox keeps the changes to the root it was made over: the host's
// tree, or one image. A run over another root is refused in one line naming
// the fix (another --name, or sandbox rm), 125, and changes nothing.
func TestImageNamedBaseMix(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	dir := workdir(t)
	refs := map[string]string{}
	for _, tag := range []string{"a", "b"} {
		img, err := mutate.AppendLayers(empty.Image, layerOf(t, append(busyboxEntries(t),
			tarEntry{name: "which", typ: tar.TypeReg, mode: 0o644, body: []byte(tag + "\n")})...))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}}); err != nil {
			t.Fatal(err)
		}
		writeLayout(t, filepath.Join(dir, tag), tag, img)
		refs[tag] = "oci:" + filepath.Join(dir, tag) + ":" + tag
	}
	onImage := "base-i-" + filepath.Base(dir)
	onHost := "base-h-" + filepath.Base(dir)
	t.Cleanup(func() { sandbox(t, "", env, "rm", onImage, onHost) })
	if r := sandbox(t, "", env, "--name", onImage, "--image", refs["a"], "--", "sh", "-c", "echo x > /new"); r.code != 0 {
		t.Fatalf("run on image a: exit %d: %s", r.code, r.stderr)
	}
	if r := sandbox(t, "", env, "--name", onHost, "--", "true"); r.code != 0 {
		t.Fatalf("host run: exit %d: %s", r.code, r.stderr)
	}
	state := func(name string) string {
		return sandbox(t, "", env, "diff", name).stdout + sandbox(t, "", env, "path", name).stdout + sandbox(t, "", env, "ls").stdout
	}
	before := map[string]string{onImage: state(onImage), onHost: state(onHost)}
	for _, c := range []struct {
		name string
		args []string
		says string // what the one line names as the sandbox's root
	}{
		{onImage, []string{"--", "true"}, refs["a"]},
		{onImage, []string{"--uid", "0", "--", "true"}, refs["a"]}, // fuse-overlayfs of /
		{onImage, []string{"--image", refs["b"], "--", "true"}, refs["a"]},
		{onHost, []string{"--image", refs["a"], "--", "true"}, "without --image"},
	} {
		r := sandbox(t, "", env, append([]string{"--name", c.name}, c.args...)...)
		if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, c.says) ||
			!strings.Contains(r.stderr, "--name") || !strings.Contains(r.stderr, "sandbox rm "+c.name) {
			t.Errorf("--name %s %q: exit %d, stderr %q; want 125 and one line naming %s and the fix", c.name, c.args, r.code, r.stderr, c.says)
		}
		if got := state(c.name); got != before[c.name] {
			t.Errorf("--name %s %q changed the sandbox:\n%s\nwas:\n%s", c.name, c.args, got, before[c.name])
		}
	}
	// The same image again: its changes are there.
	if r := sandbox(t, "", env, "--name", onImage, "--image", refs["a"], "--", "cat", "/which", "/new"); r.code != 0 || r.stdout != "a\nx\n" {
		t.Errorf("image a again: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// Removed, the name is free for the host's tree.
	if r := sandbox(t, "", env, "rm", onImage); r.code != 0 {
		t.Fatalf("rm: exit %d: %s", r.code, r.stderr)
	}
	if r := sandbox(t, "", env, "--name", onImage, "--", "true"); r.code != 0 {
		t.Errorf("host run after rm: exit %d: %s", r.code, r.stderr)
	}
}

// A sandbox made over a --rootfs tree keeps changes to that tree: a run of it
// on the host's tree or over another tree is refused in one line, and so is
// a --rootfs run of a sandbox made on the host's tree; nothing changes.
func TestRootfsNamedBaseMix(t *testing.T) {
	requires(t, UserNS)
	tree := func() string {
		root := workdir(t)
		for _, d := range []string{"bin", "etc", "proc", "dev", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		bin, err := exec.LookPath("busybox")
		if err != nil {
			bin = probe // a static program, enough to run
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		return root
	}
	root, other := tree(), tree()
	// busybox's true; the probe exits 0 for an argument it does not know.
	run := []string{"/bin/busybox", "true"}
	onRoot := "base-r-" + filepath.Base(root)
	onHost := "base-h-" + filepath.Base(root)
	t.Cleanup(func() { sandbox(t, "", nil, "rm", onRoot, onHost) })
	if r := sandbox(t, "", nil, append([]string{"--name", onRoot, "--rootfs", root, "--"}, run...)...); r.code != 0 {
		t.Fatalf("run over --rootfs: exit %d: %s", r.code, r.stderr)
	}
	if r := sandbox(t, "", nil, "--name", onHost, "--", "true"); r.code != 0 {
		t.Fatalf("host run: exit %d: %s", r.code, r.stderr)
	}
	state := func(name string) string {
		return sandbox(t, "", nil, "path", name).stdout + sandbox(t, "", nil, "diff", name).stdout
	}
	before := map[string]string{onRoot: state(onRoot), onHost: state(onHost)}
	for _, c := range []struct {
		name string
		args []string
		says string
	}{
		{onRoot, []string{"--", "true"}, "--rootfs " + root},
		{onRoot, []string{"--rootfs", other, "--", "true"}, "--rootfs " + root},
		{onHost, []string{"--rootfs", root, "--", "true"}, "host's tree"},
	} {
		r := sandbox(t, "", nil, append([]string{"--name", c.name}, c.args...)...)
		if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, c.says) ||
			!strings.Contains(r.stderr, "sandbox rm "+c.name) {
			t.Errorf("--name %s %q: exit %d, stderr %q; want 125 and one line naming %s and the fix", c.name, c.args, r.code, r.stderr, c.says)
		}
	}
	for name, was := range before {
		if now := state(name); now != was {
			t.Errorf("a refused run changed sandbox %s:\nbefore %q\nafter  %q", name, was, now)
		}
	}
	if r := sandbox(t, "", nil, append([]string{"--name", onRoot, "--rootfs", root, "--"}, run...)...); r.code != 0 {
		t.Errorf("the same --rootfs again: exit %d: %s", r.code, r.stderr)
	}
}
