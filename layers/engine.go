package layers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Engine names the copy-on-write engine that last mounted a layer. The two
// mark whiteouts and opaque directories differently, and each lets the
// command make, as ordinary files and xattrs, the other's markers: under the
// kernel overlay a plain file ".wh.X" or the xattr user.fuseoverlayfs.opaque
// is just a name and an xattr (issue 22), under fuse-overlayfs the command may
// set user.overlay.opaque. So Diff honours only the markers of the engine
// that last mounted the layer, which are what a run with it shows.
type Engine string

const (
	// EngineKernel is overlayfs mounted with userxattr: whiteouts are
	// character devices 0:0, and an opaque directory has
	// user.overlay.opaque "y". The command cannot set user.overlay.* (the
	// kernel stores it escaped, as user.overlay.overlay.*) nor mknod 0:0.
	EngineKernel Engine = "kernel"
	// EngineFuse is fuse-overlayfs: whiteouts are character devices 0:0 or
	// files ".wh.NAME", an opaque directory has user.fuseoverlayfs.opaque
	// (trusted.overlay.opaque when run as real root) and a file
	// ".wh..wh..opq". It refuses the command names starting with ".wh." and
	// its own xattrs, but lets user.overlay.* through, which Diff ignores.
	EngineFuse Engine = "fuse"
)

// engineFile, next to a layer's upper, names the engine that last mounted it.
const engineFile = "engine"

// RecordEngine writes which engine mounts the layer whose upper is upper. The
// mounter calls it before each mount: Layer records EngineKernel, the default,
// and fuse-overlayfs (chosen, or as the fallback where the kernel refuses)
// records EngineFuse over it. The file is replaced, never followed.
func RecordEngine(upper string, e Engine) error {
	dir := filepath.Dir(upper)
	p := filepath.Join(dir, engineFile)
	if b, err := readNoFollow(p, 64); err == nil && string(b) == string(e)+"\n" {
		return nil
	}
	tmp := filepath.Join(dir, ".engine-new")
	_ = unix.Unlink(tmp)
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("record the overlay engine of layer %s: %w", quoteShort(dir), &os.SyscallError{Syscall: "open", Err: err})
	}
	_, err = unix.Write(fd, []byte(string(e)+"\n"))
	unix.Close(fd)
	if err == nil {
		err = unix.Rename(tmp, p)
	}
	if err != nil {
		_ = unix.Unlink(tmp)
		return fmt.Errorf("record the overlay engine of layer %s: %w", quoteShort(dir), &os.SyscallError{Syscall: "write", Err: err})
	}
	return nil
}

// readEngine returns the engine recorded for the layer in dir. A layer made
// before engines were recorded gets the one that could mount it then: only
// fuse-overlayfs could overlay "/", the kernel did the rest by default.
func readEngine(dir, hostPath string) (Engine, error) {
	b, err := readNoFollow(filepath.Join(dir, engineFile), 64)
	if errors.Is(err, unix.ENOENT) {
		if hostPath == "/" {
			return EngineFuse, nil
		}
		return EngineKernel, nil
	}
	if err != nil {
		return "", fmt.Errorf("read the overlay engine of layer %s: %w", quoteShort(dir), err)
	}
	switch e := Engine(strings.TrimSuffix(string(b), "\n")); e {
	case EngineKernel, EngineFuse:
		return e, nil
	default:
		return "", fmt.Errorf("layer %s names an unknown overlay engine %s", quoteShort(dir), quoteShort(string(e)))
	}
}

// readNoFollow reads up to max bytes of a file that must not be a symlink.
func readNoFollow(path string, max int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := regularFile(fd, path); err != nil {
		return nil, err
	}
	buf := make([]byte, max+1)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("longer than %d bytes", max)
	}
	return bytes.Clone(buf[:n]), nil
}

// markers are the whiteout and opaque forms an engine writes itself.
type markers struct {
	whFiles  bool     // ".wh.NAME" files are whiteouts, ".wh..wh..opq" marks opaque
	opaqueXa []string // xattrs that say "y" for an opaque directory
}

func (e Engine) markers() markers {
	if e == EngineFuse {
		return markers{whFiles: true, opaqueXa: []string{"user.fuseoverlayfs.opaque", "trusted.overlay.opaque"}}
	}
	return markers{opaqueXa: []string{"user.overlay.opaque"}}
}

// Whiteout and opaque markers of fuse-overlayfs (package doc).
const (
	whPrefix     = ".wh."
	opaqueMarker = ".wh..wh..opq"
	// opaqueWhDev is a 0:0 device fuse-overlayfs makes next to opaqueMarker.
	opaqueWhDev = ".wh..opq"
)

// allOpaqueXattrs are every engine's opaque xattrs: what clearOpaque removes
// (one set by the command through the other engine included).
var allOpaqueXattrs = [...]string{"user.overlay.opaque", "trusted.overlay.opaque", "user.fuseoverlayfs.opaque"}

// fdOpaque reports a directory, open at fd, that the engine marked opaque.
func (m markers) fdOpaque(fd int) bool {
	buf := make([]byte, 8)
	for _, x := range m.opaqueXa {
		if n, err := unix.Fgetxattr(fd, x, buf); err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	if !m.whFiles {
		return false
	}
	var st unix.Stat_t
	return unix.Fstatat(fd, opaqueMarker, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// isOpaque is fdOpaque for an upper directory named by path.
func isOpaque(dir string, e Engine) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return e.markers().fdOpaque(fd)
}

// whiteoutTarget returns the name an upper entry whites out, if the engine
// made it as a whiteout: a 0:0 character device deletes its own name; under
// fuse-overlayfs a regular file ".wh.NAME" deletes NAME. A target that is not
// one plain name (".", "..", or holding '/') is refused: it would delete
// outside the directory. marker reports an entry that is the engine's own
// bookkeeping, not a change.
func (m markers) whiteoutTarget(name string, st *unix.Stat_t) (target string, marker bool, err error) {
	isDev := st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
	if m.whFiles && (name == opaqueMarker || name == opaqueWhDev) {
		return "", true, nil
	}
	switch {
	case isDev:
		target = name
	case m.whFiles && st.Mode&unix.S_IFMT == unix.S_IFREG && strings.HasPrefix(name, whPrefix):
		target = name[len(whPrefix):]
	default:
		return "", false, nil
	}
	if target == "" || target == "." || target == ".." || strings.ContainsAny(target, "/\x00") {
		return "", false, fmt.Errorf("refusing whiteout %s: it does not name one entry of its directory", quoteShort(name))
	}
	return target, false, nil
}
