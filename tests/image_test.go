package tests

import (
	"archive/tar"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var testConfig = v1.Config{
	Env:        []string{"PATH=/bin", "FOO=from-image"},
	Cmd:        []string{"sh", "-c", "echo cmd-ran"},
	WorkingDir: "/home/u",
	User:       "u",
}

// probeScript prints what an image run must show, one fact a line.
const probeScript = `id -u; id -g; pwd; echo $FOO; stat -c '%u %a' /owned /suid; stat -c %h /suid; cat /link | head -1; ls /opq; test -e /gone && echo gone-is-there; echo end`

func checkProbe(t *testing.T, out string) {
	t.Helper()
	want := []string{"1000", "1000", "/home/u", "from-image", "1234 640", "0 4755", "2", "root:x:0:0:root:/root:/bin/sh", "new", "end"}
	if got := lines(out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("in the image:\n got %q\nwant %q", got, want)
	}
}

func TestImageRegistryPullRun(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, store := imageEnv(t)
	ref := serve(t, "test/img:v1", testImage(t, testConfig), nil)
	r := sandbox(t, "", env, "pull", ref)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("pull: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = sandbox(t, "", env, "images", "--json")
	var rows []struct{ Name string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Name != ref {
		t.Fatalf("images --json: %q %v", r.stdout, err)
	}
	// The image's Cmd, in its WorkingDir, as its User.
	if r := sandbox(t, "", env, "--image", ref); r.code != 0 || r.stdout != "cmd-ran\n" {
		t.Errorf("--image without a command: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = sandbox(t, "", env, "--image", ref, "--", "sh", "-c", probeScript)
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	checkProbe(t, r.stdout)
	// --env after the image's Env; --uid over its User, the map unchanged.
	r = sandbox(t, "", env, "--image", ref, "-e", "FOO=mine", "--uid", "0", "--", "sh", "-c", "echo $FOO; id -u; stat -c %u /owned")
	if got := lines(r.stdout); strings.Join(got, " ") != "mine 0 1234" {
		t.Errorf("--env/--uid: %q (stderr %q)", got, r.stderr)
	}
	// Writes go to the layer, never to the store.
	r = sandbox(t, "", env, "--image", ref, "--uid", "0", "--", "sh", "-c", "echo x > /owned; echo y > /new")
	if r.code != 0 {
		t.Errorf("write in the image: exit %d %s", r.code, r.stderr)
	}
	r = sandbox(t, "", env, "--image", ref, "--uid", "1234", "--", "cat", "/owned")
	if r.stdout != "theirs\n" {
		t.Errorf("an ephemeral run's write reached the image: %q", r.stdout)
	}
	// rmi removes the layers.
	if r := sandbox(t, "", env, "rmi", ref); r.code != 0 {
		t.Fatalf("rmi: %d %s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(store, "layers")); len(ents) != 0 {
		t.Errorf("rmi left %d layers", len(ents))
	}
}

func TestImageTransports(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	img := testImage(t, testConfig)
	dir := workdir(t)
	writeLayout(t, filepath.Join(dir, "layout"), "v1", img)
	tarDir(t, filepath.Join(dir, "layout"), filepath.Join(dir, "oci.tar"))
	tag, _ := name.NewTag("example.com/x/y:z")
	if err := tarball.WriteToFile(filepath.Join(dir, "docker.tar"), tag, img); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{
		"oci:" + filepath.Join(dir, "layout") + ":v1",
		"oci:" + filepath.Join(dir, "layout"),
		"oci-archive:" + filepath.Join(dir, "oci.tar") + ":v1",
		"docker-archive:" + filepath.Join(dir, "docker.tar"),
	} {
		r := sandbox(t, "", env, "--image", ref, "--", "sh", "-c", probeScript)
		if r.code != 0 {
			t.Errorf("%s: exit %d: %s", ref, r.code, r.stderr)
			continue
		}
		checkProbe(t, r.stdout)
	}
}

func TestImageBadInput(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, store := imageEnv(t)
	img := testImage(t, testConfig)
	good := serve(t, "good/img:v1", img, nil)
	// A registry whose blobs are one byte off: the digest check must fail.
	corrupt := serve(t, "bad/img:v1", img, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/blobs/") || r.Method != http.MethodGet {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(&flipWriter{ResponseWriter: w}, r)
		})
	})
	dir := workdir(t)
	badTar := filepath.Join(dir, "bad.tar")
	writeRawTar(t, badTar, []tarEntry{{name: "ok", typ: '0', mode: 0o644, body: []byte("x")}, {name: "a/../../escaped", typ: '0', mode: 0o644, body: []byte("x")}})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown transport", []string{"pull", "dir:/tmp/x"}, "not supported"},
		{"unknown scheme", []string{"pull", "foo://bar"}, "unknown transport"},
		{"missing tag", []string{"pull", strings.TrimSuffix(good, ":v1") + ":nope"}, "nope"},
		{"unreachable registry", []string{"pull", "127.0.0.1:1/x/y:z"}, "127.0.0.1:1"},
		{"digest mismatch", []string{"pull", corrupt}, "sha256"},
		{"run of a missing tag", []string{"--image", strings.TrimSuffix(good, ":v1") + ":nope", "--", "true"}, "nope"},
		{"bad path in a tarball", []string{"import", badTar, "bad"}, `".." refused`},
	} {
		r := sandbox(t, "", env, c.args...)
		if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 125 and one line naming %q", c.name, r.code, r.stderr, c.want)
		}
	}
	r := sandbox(t, "", env, "images", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("images after failures: %q", r.stdout)
	}
	for _, sub := range []string{"layers", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(store, sub)); len(ents) != 0 {
			t.Errorf("failed pulls left %d entries in %s (%s)", len(ents), sub, ents[0].Name())
		}
	}
}

// flipWriter changes the last byte of a blob.
type flipWriter struct {
	http.ResponseWriter
	flipped bool
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if !f.flipped && len(b) > 0 {
		c := append([]byte(nil), b...)
		c[len(c)-1] ^= 1
		f.flipped = true
		return f.ResponseWriter.Write(c)
	}
	return f.ResponseWriter.Write(b)
}

func TestImageImport(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	dir := workdir(t)
	p := filepath.Join(dir, "rootfs.tar")
	writeRawTar(t, p, append(busyboxEntries(t), tarEntry{name: "etc/", typ: '5', mode: 0o755}, tarEntry{name: "etc/hello", typ: '0', mode: 0o644, uid: 7, body: []byte("hi\n")}))
	if r := sandbox(t, "", env, "import", p, "mine:1"); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	r := sandbox(t, "", env, "--image", "mine:1", "--", "sh", "-c", "cat /etc/hello; stat -c %u /etc/hello; id -u")
	if got := strings.Join(lines(r.stdout), " "); got != "hi 7 0" {
		t.Errorf("imported image: %q (stderr %q)", got, r.stderr)
	}
	// A named sandbox on an image: diff lists the change, commit is refused.
	name := "img-" + filepath.Base(dir)
	t.Cleanup(func() { sandbox(t, "", env, "rm", name) })
	if r := sandbox(t, "", env, "--image", "mine:1", "--name", name, "--", "sh", "-c", "echo x > /etc/new"); r.code != 0 {
		t.Fatalf("named run: %d %s", r.code, r.stderr)
	}
	if r := sandbox(t, "", env, "diff", name); !strings.Contains(r.stdout, "/etc/new\n") || strings.Contains(r.stdout, "hello") {
		t.Errorf("diff: %q %q", r.stdout, r.stderr)
	}
	if r := sandbox(t, "", env, "commit", name); r.code != 125 || !strings.Contains(r.stderr, "image") {
		t.Errorf("commit into an image: exit %d %q", r.code, r.stderr)
	}
}

// The review flow on an image of three layers: diff compares the upper with
// the merged layers, as the command saw them, and prints its paths.
func TestImageReview(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	base := append(busyboxEntries(t),
		tarEntry{name: "bin/rm", typ: tar.TypeSymlink, link: "busybox"},
		tarEntry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "etc/os", typ: tar.TypeReg, mode: 0o644, body: []byte("base\n")},
		tarEntry{name: "etc/gone", typ: tar.TypeReg, mode: 0o644, body: []byte("base\n")},
		tarEntry{name: "keep", typ: tar.TypeReg, mode: 0o644, body: []byte("base\n")},
	)
	mid := []tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/mid", typ: tar.TypeReg, mode: 0o644, body: []byte("mid\n")},
		{name: "etc/.wh.gone", typ: tar.TypeReg},
	}
	top := []tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/os", typ: tar.TypeReg, mode: 0o644, body: []byte("top\n")},
	}
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, base...), layerOf(t, mid...), layerOf(t, top...))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}}); err != nil {
		t.Fatal(err)
	}
	dir := workdir(t)
	writeLayout(t, filepath.Join(dir, "layout"), "v1", img)
	ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
	name := "review-" + filepath.Base(dir)
	t.Cleanup(func() { sandbox(t, "", env, "rm", name) })
	script := "echo changed > /etc/os; echo mid2 >> /etc/mid; echo back > /etc/gone; echo n > /etc/new; rm /keep"
	if r := sandbox(t, "", env, "--image", ref, "--name", name, "--uid", "0", "--", "sh", "-c", script); r.code != 0 {
		t.Fatalf("named run: %d %s", r.code, r.stderr)
	}
	want := "A /etc/gone\nM /etc/mid\nA /etc/new\nM /etc/os\nD /keep\n"
	if r := sandbox(t, "", env, "diff", name); r.code != 0 || r.stdout != want {
		t.Errorf("diff: exit %d\n%s%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	if r := sandbox(t, "", env, "diff", "--stat", name); !strings.HasPrefix(r.stdout, "2 added, 2 modified, 1 deleted,") {
		t.Errorf("diff --stat: %q %q", r.stdout, r.stderr)
	}
	r := sandbox(t, "", env, "diff", "-p", name)
	for _, w := range []string{"-top\n+changed\n", " mid\n+mid2\n", "+++ b/etc/new\n"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("diff -p lacks %q:\n%s%s", w, r.stdout, r.stderr)
		}
	}
	if r := sandbox(t, "", env, "path", name); !strings.Contains(r.stdout, "\n/ (image) ") {
		t.Errorf("path: %q %q", r.stdout, r.stderr)
	}
	if r := sandbox(t, "", env, "ls"); !strings.Contains(r.stdout, name) {
		t.Errorf("ls: %q %q", r.stdout, r.stderr)
	}
	if r := sandbox(t, "", env, "commit", name); r.code != 125 || !strings.Contains(r.stderr, "image") {
		t.Errorf("commit into an image: exit %d %q", r.code, r.stderr)
	}
	// A second run sees its own changes over the image.
	r = sandbox(t, "", env, "--image", ref, "--name", name, "--", "sh", "-c", "cat /etc/os /etc/gone; test -e /keep || echo no-keep")
	if got := strings.Join(lines(r.stdout), " "); got != "changed back no-keep" {
		t.Errorf("second run: %q %q", got, r.stderr)
	}
}

// The command gets the supplementary groups of the image's /etc/group, or
// none: never the host user's group, which is ID 0 in the image map.
func TestImageGroups(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	base := append(busyboxEntries(t),
		tarEntry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: []byte("root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/:/bin/sh\nv:x:1001:1001::/:/bin/sh\n")},
		tarEntry{name: "etc/group", typ: tar.TypeReg, mode: 0o644, body: []byte("root:x:0:\nwheel:x:10:root\nstaff:x:50:u\nu:x:1000:\n")},
	)
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, base...))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}, User: "u"}); err != nil {
		t.Fatal(err)
	}
	dir := workdir(t)
	writeLayout(t, filepath.Join(dir, "layout"), "v1", img)
	ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "1000 50"},
		{[]string{"--user", "v"}, "1001"},
		{[]string{"--uid", "4242"}, "0"}, // no passwd entry: group 0 as primary, nothing more
		{[]string{"--uid", "0"}, "0 10"},
	} {
		args := append(append([]string{"--image", ref}, c.args...), "--", "id", "-G")
		if r := sandbox(t, "", env, args...); r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("%v: exit %d, id -G %q (stderr %q), want %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
	// A single-ID map has only ID 0 and denies setgroups: one line, 125.
	r := sandbox(t, "", env, "--map", "single", "--image", ref, "--", "id", "-G")
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "sub-IDs") {
		t.Errorf("--map single with the image's user u: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Words after "--" that start with "-" are arguments of the entrypoint:
// --entrypoint's, or the image's own.
func TestImageEntrypointArgs(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	dir := workdir(t)
	refs := map[string]string{}
	for tag, ep := range map[string][]string{"with": {"sh"}, "without": nil} {
		img, err := mutate.AppendLayers(empty.Image, layerOf(t, busyboxEntries(t)...))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}, Entrypoint: ep, Cmd: []string{"-c", "echo cmd"}}); err != nil {
			t.Fatal(err)
		}
		writeLayout(t, filepath.Join(dir, tag), "v1", img)
		refs[tag] = "oci:" + filepath.Join(dir, tag) + ":v1"
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", refs["with"]}, "cmd"},
		{[]string{"--image", refs["with"], "--", "-c", "echo hi"}, "hi"},
		{[]string{"--image", refs["without"], "--entrypoint", "sh", "--", "-c", "echo hi"}, "hi"},
		{[]string{"--image", refs["without"], "--entrypoint", `["sh","-c"]`, "--", "echo $0", "x"}, "x"},
	} {
		if r := sandbox(t, "", env, c.args...); r.code != 0 || r.stdout != c.want+"\n" {
			t.Errorf("%q: exit %d, %q %q; want %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
	r := sandbox(t, "", env, "--image", refs["without"], "--", "-c", "echo hi")
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "no Entrypoint") {
		t.Errorf("-- -c on an image without an Entrypoint: exit %d %q", r.code, r.stderr)
	}
}

// 130 layers: more than mount(2)'s option string holds, so the overlay is
// built with one lowerdir+ per layer (Linux 6.8).
func TestImageManyLayers(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	env, _ := imageEnv(t)
	dir := workdir(t)
	writeLayout(t, filepath.Join(dir, "layout"), "v1", manyLayers(t, 130))
	ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
	r := sandbox(t, "", env, "--image", ref, "--", "sh", "-c", "ls /l | wc -l; cat /l/2 /l/128; test -e /l/1 || echo 1-deleted")
	if got := strings.Join(lines(r.stdout), " "); r.code != 0 || got != "127 2 128 1-deleted" {
		t.Errorf("130 layers: exit %d, %q %s", r.code, got, r.stderr)
	}
}
