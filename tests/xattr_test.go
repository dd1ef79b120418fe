package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A data directory on a filesystem without user xattrs (tmpfs before Linux
// 6.6; ramfs, which stands in for it here) made `rm -rf` of a lower
// directory fail inside with EIO while `sandbox check` said the overlay was
// ok (issue 21, item 4). A run with layers on disk there is now refused with
// one line and the fix, and the check says so.
func TestDataDirWithoutUserXattrs(t *testing.T) {
	requires(t, UserNS)
	mount, err := exec.LookPath("mount")
	if err != nil {
		t.Skipf("requires mount(8): %v", err)
	}
	data := filepath.Join(workdir(t), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Root of a user and mount namespace of our own, mapped to us: ramfs
	// mounts there; sandbox runs inside as that root, with a single-ID map.
	script := `"$MOUNT" -t ramfs none "$DATA" || exit 99
XDG_DATA_HOME="$DATA" "$BIN" --map single --name xattr-probe -- true; echo "run=$?"
XDG_DATA_HOME="$DATA" "$BIN" check | grep data-dir`
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = workdir(t)
	cmd.Env = append(os.Environ(), "MOUNT="+mount, "DATA="+data, "BIN="+bin, "SANDBOX_CONFIG=/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if cmd.ProcessState.ExitCode() == 99 {
		t.Skipf("requires ramfs in a user namespace: %s", errb.String())
	}
	if !strings.Contains(out.String(), "run=125") || !strings.Contains(errb.String(), "user xattrs") ||
		!strings.Contains(errb.String(), "XDG_DATA_HOME") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Errorf("a named run with its layers on ramfs: want 125 and one line naming user xattrs and the fix (%v)\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	if l := out.String(); !strings.Contains(l, "data-dir") || !strings.Contains(l, "user xattrs") || strings.Contains(l, "ok    data-dir") {
		t.Errorf("check does not say the data directory lacks user xattrs:\n%s", l)
	}
}
