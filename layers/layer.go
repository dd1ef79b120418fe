package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Layer is the overlay of one host directory.
type Layer struct {
	HostPath string // the overlaid host directory (lowerdir)
	Upper    string
	Work     string
	// Engine last mounted it: only its whiteout and opaque markers count.
	Engine Engine
	// Lowers, for a stacked layer (StackLayer: an image's), are its lower
	// directories top first, HostPath the first; Mount is where the command
	// saw their overlay. Diff merges the lowers and prints paths below Mount.
	Lowers []string
	Mount  string
	// Root: the layer was made over a --rootfs tree, HostPath, which the
	// command saw as its / (RootLayer). Its changes are changes to that
	// tree, not to the host's.
	Root bool
}

const pathFile = "path"

// Layer returns the upper and work directories for hostPath, creating them
// and the layer's path file if missing. A new upper gets the host directory's
// permission bits: the overlay's root takes its mode from the upper.
func (sb *Sandbox) Layer(hostPath string) (upper, work string, err error) {
	if err := checkHostPath(hostPath); err != nil {
		return "", "", fmt.Errorf("create layer: %w", err)
	}
	if sb.slot != nil {
		return sb.slotLayer(hostPath)
	}
	dir := filepath.Join(sb.Dir, layersDir, encodeKey(hostPath))
	l := Layer{HostPath: hostPath, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	root := sb.storeRoot()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := mkdirBelow(root, d, 0o700); err != nil {
			return "", "", fmt.Errorf("create layer for %s: %w", quoteShort(hostPath), err)
		}
	}
	// The path file comes last: Layers skips a layer without one, so a
	// crash here never leaves a listed layer without its upper.
	_, err = os.Lstat(l.Upper)
	fresh := errors.Is(err, fs.ErrNotExist)
	for _, d := range []string{l.Upper, l.Work} {
		if err := mkdirBelow(root, d, 0o700); err != nil {
			return "", "", fmt.Errorf("create layer for %s: %w", quoteShort(hostPath), err)
		}
	}
	if info, err := os.Stat(hostPath); err == nil && info.IsDir() && fresh {
		if up, err := openBelow(root, l.Upper, unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
			_ = unix.Fchmod(int(up.Fd()), unixMode(permBits(info.Mode())))
			up.Close()
		}
	}
	if err := sb.checkPathFile(dir, hostPath); err != nil {
		return "", "", err
	}
	// The kernel overlay, unless fuse-overlayfs records itself when it
	// mounts the layer instead (fuseoverlay.Mount).
	if err := RecordEngine(l.Upper, EngineKernel); err != nil {
		return "", "", err
	}
	return l.Upper, l.Work, nil
}

// rootFile marks a layer made over a --rootfs tree (Layer.Root).
const rootFile = "root"

// RootLayer is Layer for a --rootfs tree, the command's whole /: the layer
// records that, so that a later run over another root (the host's tree, an
// image, another tree) is told apart and refused (the CLI's checkBase).
func (sb *Sandbox) RootLayer(hostPath string) (upper, work string, err error) {
	if upper, work, err = sb.Layer(hostPath); err != nil || sb.slot != nil {
		return upper, work, err
	}
	p := filepath.Join(filepath.Dir(upper), rootFile)
	f, err := openBelow(sb.storeRoot(), p, unix.O_WRONLY|unix.O_CREAT, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("create layer for %s: %w", quoteShort(hostPath), err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("create layer for %s: %w", quoteShort(hostPath), err)
	}
	return upper, work, nil
}

// rootMark reports whether the layer directory dir holds RootLayer's mark.
func (sb *Sandbox) rootMark(dir string) (bool, error) {
	_, err := readBelow(sb.storeRoot(), filepath.Join(dir, rootFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// checkPathFile writes the layer's path file, or checks the one there names
// hostPath: a hashed key collision must not mix two directories' changes.
func (sb *Sandbox) checkPathFile(dir, hostPath string) error {
	p := filepath.Join(dir, pathFile)
	b, err := readBelow(sb.storeRoot(), p)
	if errors.Is(err, fs.ErrNotExist) {
		f, err := openBelow(sb.storeRoot(), p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(hostPath + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("create layer for %s: %w", quoteShort(hostPath), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	if got := strings.TrimSuffix(string(b), "\n"); got != hostPath {
		return fmt.Errorf("create layer for %q: %s names %q", hostPath, p, got)
	}
	return nil
}

// Layers returns the sandbox's layers sorted by host path. Layers with no
// path file (a crash in Layer) are skipped: they cannot hold changes yet.
func (sb *Sandbox) Layers() ([]Layer, error) {
	root := filepath.Join(sb.Dir, layersDir)
	d, err := openBelow(sb.storeRoot(), root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	var out []Layer
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("list layers: %w", &SymlinkError{Path: dir})
		}
		b, err := readBelow(sb.storeRoot(), filepath.Join(dir, pathFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		p := strings.TrimSuffix(string(b), "\n")
		if checkHostPath(p) != nil || encodeKey(p) != e.Name() {
			return nil, fmt.Errorf("list layers: %s names %q, which does not match its key", filepath.Join(dir, pathFile), p)
		}
		e, err := readEngine(dir, p)
		if err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		l := Layer{HostPath: p, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Engine: e}
		if err := sb.readStack(dir, &l); err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		if l.Root, err = sb.rootMark(dir); err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostPath < out[j].HostPath })
	return out, nil
}

// openWorkDirs gives each layer's work/work its owner's rwx back. The kernel
// overlay makes that directory mode 000 at every mount (and again at the
// next), which leaves `du`, `find` or a backup of $HOME saying "Permission
// denied" in the store after the run. Cheap: a few system calls per layer, a
// chmod only where needed.
func (sb *Sandbox) openWorkDirs() {
	dir := filepath.Join(sb.Dir, layersDir)
	d, err := openBelow(sb.storeRoot(), dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		openWorkDir(sb.storeRoot(), filepath.Join(dir, n, "work"))
	}
}

// openWorkDir makes work/work in the layer's work directory (below the store
// root, no symlink followed) rwx for its owner, if we own it.
func openWorkDir(root, work string) {
	f, err := openBelow(root, work, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fd := int(f.Fd())
	var st unix.Stat_t
	if unix.Fstatat(fd, "work", &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR ||
		st.Mode&0o700 == 0o700 || int(st.Uid) != os.Geteuid() {
		return
	}
	_ = unix.Fchmodat(fd, "work", 0o700, 0) // a directory, checked above: nothing to follow
}
