package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Change is one difference between a layer's upper and the host.
type Change struct {
	Kind  byte        // 'A' added, 'M' modified (or type changed), 'D' deleted
	Path  string      // host path
	Size  int64       // bytes of the new regular file for A and M; else 0
	Mode  fs.FileMode // the upper entry's mode for A and M, the host entry's for D
	Layer *Layer
	Rel   string // Path relative to Layer.HostPath; never "."
	// Opaque is set for an A or M directory marked opaque in the upper: it
	// replaces the host directory rather than merging with it.
	Opaque bool

	upper string      // the upper entry (for D, the whiteout); "" for D under an opaque directory
	host  fs.FileMode // the host entry's mode for M and D, as Diff saw it
}

// Whiteout and opaque markers (package doc).
const (
	whPrefix     = ".wh."
	opaqueMarker = ".wh..wh..opq"
)

// opaqueXattrs: kernel overlay with userxattr, without it, and fuse-overlayfs
// when trusted.* is refused (it then also writes the opaqueMarker file).
var opaqueXattrs = [...]string{"user.overlay.opaque", "trusted.overlay.opaque", "user.fuseoverlayfs.opaque"}

// Diff compares each layer's upper with the host and returns the changes
// sorted by Path. A deleted directory is one D, not one per entry below it.
// It reads the host without following symlinks below each layer's host path.
func (sb *Sandbox) Diff() ([]Change, error) {
	changes, _, err := sb.diff()
	return changes, err
}

// diff also returns the stale whiteouts: those of paths the host lacks, which
// change nothing (and which Commit tidies away).
func (sb *Sandbox) diff() (changes, stale []Change, err error) {
	layers, err := sb.Layers()
	if err != nil {
		return nil, nil, err
	}
	for i := range layers {
		d := differ{l: &layers[i]}
		if err := d.dir(".", true, false); err != nil {
			return nil, nil, fmt.Errorf("diff %s: %w", layers[i].HostPath, err)
		}
		changes = append(changes, d.out...)
		stale = append(stale, d.stale...)
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, stale, nil
}

// Stat counts changes by kind and sums the bytes to be written.
func Stat(changes []Change) (added, modified, deleted int, bytes int64) {
	for _, c := range changes {
		switch c.Kind {
		case 'A':
			added++
		case 'M':
			modified++
		case 'D':
			deleted++
		}
		bytes += c.Size
	}
	return added, modified, deleted, bytes
}

type differ struct {
	l     *Layer
	out   []Change
	stale []Change // whiteouts of paths the host lacks
}

func (d *differ) add(kind byte, rel, upper string, mode, host fs.FileMode, size int64, opaque bool) {
	d.out = append(d.out, Change{
		Kind: kind, Path: filepath.Join(d.l.HostPath, rel), Size: size, Mode: mode,
		Layer: d.l, Rel: rel, Opaque: opaque, upper: upper, host: host,
	})
}

// dir walks upper directory rel. hostDir says the host has a real directory
// at rel (so its entries are the overlay's lower ones); opaque that the upper
// hides them.
func (d *differ) dir(rel string, hostDir, opaque bool) error {
	upperDir := filepath.Join(d.l.Upper, rel)
	ents, err := os.ReadDir(upperDir)
	if err != nil {
		return fmt.Errorf("read upper directory: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if name == opaqueMarker {
			continue
		}
		up := filepath.Join(upperDir, name)
		if target, ok := strings.CutPrefix(name, whPrefix); ok && target != "" {
			seen[target] = true
			if err := d.whiteout(filepath.Join(rel, target), up, hostDir); err != nil {
				return err
			}
			continue
		}
		seen[name] = true
		if err := d.entry(filepath.Join(rel, name), up, hostDir); err != nil {
			return err
		}
	}
	if !opaque || !hostDir {
		return nil
	}
	hents, err := os.ReadDir(filepath.Join(d.l.HostPath, rel))
	if err != nil {
		return fmt.Errorf("read host directory: %w", err)
	}
	for _, e := range hents {
		if !seen[e.Name()] {
			info, err := e.Info()
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read host directory: %w", err)
			}
			if err == nil {
				crel := filepath.Join(rel, e.Name())
				d.add('D', crel, "", info.Mode(), info.Mode(), 0, false)
			}
		}
	}
	return nil
}

// entry classifies one upper entry that is not a ".wh." file.
func (d *differ) entry(rel, up string, hostDir bool) error {
	info, err := os.Lstat(up)
	if err != nil {
		return fmt.Errorf("read upper: %w", err)
	}
	host, err := d.hostStat(rel, hostDir)
	if err != nil {
		return err
	}
	mode := info.Mode()
	switch {
	case isWhiteout(info):
		return d.whiteout(rel, up, hostDir)
	case mode.Type() == fs.ModeSocket:
		return nil
	case mode.IsDir():
		opq := isOpaque(up)
		switch {
		case host == nil:
			d.add('A', rel, up, mode, 0, 0, opq)
			return d.dir(rel, false, false)
		case host.IsDir():
			if permBits(mode) != permBits(host.Mode()) {
				d.add('M', rel, up, mode, host.Mode(), 0, opq)
			}
			return d.dir(rel, true, opq)
		default: // replaces a host non-directory
			d.add('M', rel, up, mode, host.Mode(), 0, opq)
			return d.dir(rel, false, false)
		}
	}
	size := int64(0)
	if mode.IsRegular() {
		size = info.Size()
	}
	if host == nil {
		d.add('A', rel, up, mode, 0, size, false)
	} else {
		d.add('M', rel, up, mode, host.Mode(), size, false)
	}
	return nil
}

// whiteout records the deletion of rel, if the host still has it.
func (d *differ) whiteout(rel, up string, hostDir bool) error {
	host, err := d.hostStat(rel, hostDir)
	if err != nil {
		return err
	}
	if host == nil {
		d.stale = append(d.stale, Change{Kind: 'D', Path: filepath.Join(d.l.HostPath, rel), Layer: d.l, Rel: rel, upper: up})
		return nil
	}
	d.add('D', rel, up, host.Mode(), host.Mode(), 0, false)
	return nil
}

// hostStat lstats the host's rel, or returns nil when it does not exist.
// Only called below directories already seen to be real (hostDir), so no
// symlink is followed below the layer's host path.
func (d *differ) hostStat(rel string, hostDir bool) (fs.FileInfo, error) {
	if !hostDir {
		return nil, nil
	}
	info, err := os.Lstat(filepath.Join(d.l.HostPath, rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read host: %w", err)
	}
	return info, nil
}

// isWhiteout reports a character device 0:0, the kernel's whiteout.
func isWhiteout(info fs.FileInfo) bool {
	if info.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// isOpaque reports an upper directory that hides the lower one.
func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	for _, x := range opaqueXattrs {
		if n, err := unix.Lgetxattr(dir, x, buf); err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	_, err := os.Lstat(filepath.Join(dir, opaqueMarker))
	return err == nil
}

// permBits are the mode bits a commit sets: permissions, setuid, setgid, sticky.
func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// unixMode converts permBits(m) to the mode argument of chmod(2).
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}
