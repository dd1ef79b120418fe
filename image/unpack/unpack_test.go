package unpack

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type entry struct {
	name, link string
	typ        byte
	mode       int64
	uid        int
	body       string
	xattrs     map[string]string
}

func tarOf(t *testing.T, es ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return &buf
}

// inUserNS marks the run of one test that canOwn started in a user
// namespace.
const inUserNS = "SANDBOX_UNPACK_TEST_IN_USERNS"

// canOwn makes sure the calling test runs where it may chown to other IDs,
// as a user's layers are unpacked: as root, or else again, alone, in a child
// of its own that is root of a user namespace mapping the user's sub-IDs
// (unshare --map-auto, through newuidmap). It reports whether the caller is
// the run that tests; false: the child did, and passed.
func canOwn(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() == 0 {
		return true
	}
	if os.Getenv(inUserNS) != "" {
		t.Fatalf("not root in the user namespace (euid %d)", os.Geteuid())
	}
	mustWork := os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1"
	if _, err := exec.LookPath("newuidmap"); err != nil && !mustWork {
		t.Skip("requires newuidmap (uidmap) to chown to other IDs as an ordinary user")
	}
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--map-auto",
		os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), inUserNS+"=1")
	out, err := cmd.CombinedOutput()
	ran := strings.Contains(string(out), "=== RUN   "+t.Name())
	if !ran && !mustWork {
		t.Skipf("requires a user namespace with the user's sub-IDs (unshare --map-auto): %v: %s", err, out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s as root of a user namespace: %v\n%s", t.Name(), err, out)
	}
	return false
}

func TestLayer(t *testing.T) {
	if !canOwn(t) {
		return
	}
	root := t.TempDir()
	st, err := Layer(tarOf(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/owned", typ: tar.TypeReg, mode: 0o640, uid: 1234, body: "x"},
		entry{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, body: "su"},
		entry{name: "bin/su2", typ: tar.TypeLink, link: "bin/su"},
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		entry{name: "gone/.wh.file", typ: tar.TypeReg},
		entry{name: "opq/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "opq/.wh..wh..opq", typ: tar.TypeReg},
		entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		entry{name: "x", typ: tar.TypeReg, body: "a", xattrs: map[string]string{"user.overlay.opaque": "y", "user.ok": "1", "security.capability": "z"}},
	), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s unix.Stat_t
	must := func(p string) *unix.Stat_t {
		if err := unix.Lstat(filepath.Join(root, p), &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return &s
	}
	if st := must("etc/owned"); st.Uid != 1234 || st.Mode&0o777 != 0o640 {
		t.Errorf("etc/owned: uid %d mode %o", st.Uid, st.Mode)
	}
	if st := must("bin/su"); st.Mode&0o7777 != 0o4755 || st.Nlink != 2 {
		t.Errorf("bin/su: mode %o nlink %d (setuid and a hard link wanted)", st.Mode, st.Nlink)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", l)
	}
	if st := must("gone/file"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d", st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(root, "opq"), "user.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque dir: %q %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "x"), "user.overlay.opaque", buf); err == nil {
		t.Error("a forged user.overlay.opaque was kept")
	}
	if n, err := unix.Lgetxattr(filepath.Join(root, "x"), "user.ok", buf); err != nil || string(buf[:n]) != "1" {
		t.Errorf("user.ok: %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); err == nil || st.NDevices != 1 {
		t.Errorf("device node made, or not counted (%d)", st.NDevices)
	}
	if st.Dropped != 2 {
		t.Errorf("dropped %d xattrs, want 2", st.Dropped)
	}
}

func TestLayerRefuses(t *testing.T) {
	if !canOwn(t) {
		return
	}
	outside := t.TempDir()
	for name, es := range map[string][]entry{
		"absolute": {{name: "/etc/x", typ: tar.TypeReg, body: "x"}},
		"dotdot":   {{name: "a/../../x", typ: tar.TypeReg, body: "x"}},
		"through symlink": {
			{name: "l", typ: tar.TypeSymlink, link: outside},
			{name: "l/x", typ: tar.TypeReg, body: "x"},
		},
		"through relative symlink": {
			{name: "l", typ: tar.TypeSymlink, link: "../../../../../.." + outside},
			{name: "l/x", typ: tar.TypeReg, body: "x"},
		},
		"hardlink out": {{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}},
		"hardlink via symlink": {
			{name: "l", typ: tar.TypeSymlink, link: "/etc"},
			{name: "h", typ: tar.TypeLink, link: "l/passwd"},
		},
		"whiteout of dot": {{name: "a/.wh..", typ: tar.TypeReg}},
	} {
		root := t.TempDir()
		_, err := Layer(tarOf(t, es...), root, nil)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error of more than one line", name)
		}
		if ents, _ := os.ReadDir(outside); len(ents) > 0 {
			t.Fatalf("%s: wrote %s outside the layer", name, ents[0].Name())
		}
	}
}
