package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A data directory on a filesystem without user xattrs (tmpfs before Linux
// 6.6; ramfs, which stands in for it here) made `rm -rf` of a lower
// directory fail inside with EIO while `sandbox check` said the overlay was
// ok (issue 21, item 4). A run with layers on disk there is now refused with
// one line and the fix, and the check says so.
func TestDataDirWithoutUserXattrs(t *testing.T) {
	requires(t, UserNS)
	data := filepath.Join(workdir(t), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Root of a user and mount namespace of our own, mapped to us: ramfs
	// mounts there; sandbox runs inside as that root, with a single-ID map.
	script := `"$MOUNT" -t ramfs none "$DATA" || exit 99
XDG_DATA_HOME="$DATA" "$BIN" --map single --name xattr-probe -- true; echo "run=$?"
XDG_DATA_HOME="$DATA" "$BIN" check | grep data-dir`
	r := inOwnMountNS(t, workdir(t), script, "DATA="+data)
	out, errb := r.stdout, r.stderr
	if !strings.Contains(out, "run=125") || !strings.Contains(errb, "user xattrs") ||
		!strings.Contains(errb, "XDG_DATA_HOME") || strings.Count(strings.TrimSpace(errb), "\n") != 0 {
		t.Errorf("a named run with its layers on ramfs: want 125 and one line naming user xattrs and the fix\nstdout:\n%s\nstderr:\n%s", out, errb)
	}
	if l := out; !strings.Contains(l, "data-dir") || !strings.Contains(l, "user xattrs") || strings.Contains(l, "ok    data-dir") {
		t.Errorf("check does not say the data directory lacks user xattrs:\n%s", l)
	}
}
