package tests

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	mount, err := exec.LookPath("mount")
	if err != nil {
		t.Skipf("requires mount(8): %v", err)
	}
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
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MOUNT="+mount, "DATA="+data, "BIN="+bin, "REF=oci:"+filepath.Join(dir, "layout")+":v1", "SANDBOX_CONFIG=/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if cmd.ProcessState.ExitCode() == 99 {
		t.Skipf("requires tmpfs in a user namespace: %s", errb.String())
	}
	stderr := strings.TrimSpace(errb.String())
	t.Logf("%s%s", out.String(), stderr)
	if !strings.Contains(out.String(), "pull=125") || !strings.Contains(stderr, "no space left") || strings.Count(stderr, "\n") != 0 {
		t.Errorf("a pull onto a full disk: want 125 and one line saying so (%v)\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr)
	}
	if strings.Contains(out.String(), "left: ") || !strings.Contains(out.String(), "[]") {
		t.Errorf("a failed pull left something in the store:\n%s", out.String())
	}
}
