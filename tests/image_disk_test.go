package tests

import (
	"archive/tar"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// A pull that fills the disk is one line and 125, and leaves nothing
// half-unpacked: the store is on a 2 MiB tmpfs of a user and mount namespace
// of our own (sandbox runs inside as its root, with a single-ID map), the
// image's layer holds 4 MiB.
func TestImagePullDiskFull(t *testing.T) {
	requires(t, UserNS)
	needImageHelper(t)
	big := make([]byte, 4<<20)
	rand.Read(big)
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, tarEntry{name: "big", typ: tar.TypeReg, mode: 0o644, body: big}))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Cmd: []string{"/big"}}); err != nil {
		t.Fatal(err)
	}
	dir := workdir(t)
	writeLayout(t, filepath.Join(dir, "layout"), "v1", img)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `"$MOUNT" -t tmpfs -o size=2m none "$DATA" || exit 99
XDG_DATA_HOME="$DATA" "$BIN" pull --map single "$REF"; echo "pull=$?"
find "$DATA/sandbox/.images/layers" "$DATA/sandbox/.images/tmp" -mindepth 1 | sed 's/^/left: /'
XDG_DATA_HOME="$DATA" "$BIN" images --json | tr -d '\n'; echo`
	r := inOwnMountNS(t, dir, script, "DATA="+data, "REF=oci:"+filepath.Join(dir, "layout")+":v1")
	stderr := strings.TrimSpace(r.stderr)
	t.Logf("%s%s", r.stdout, stderr)
	if !strings.Contains(r.stdout, "pull=125") || !strings.Contains(stderr, "no space left") || strings.Count(stderr, "\n") != 0 {
		t.Errorf("a pull onto a full disk: want 125 and one line saying so\nstdout:\n%s\nstderr:\n%s", r.stdout, stderr)
	}
	if strings.Contains(r.stdout, "left: ") || !strings.Contains(r.stdout, "[]") {
		t.Errorf("a failed pull left something in the store:\n%s", r.stdout)
	}
}
