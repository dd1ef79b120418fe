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

// cleanUppers removes committed entries from the uppers, so the sandbox sees
// the host's (now equal) files and Diff lists them no more. Nothing may change
// what the sandbox sees: an entry below a directory that stays opaque (it has
// uncommitted changes) is kept, since without it the host's entry would stay
// hidden, and directories that are uncommitted changes are not pruned.
func cleanUppers(sel, all []Change) error {
	key := func(c *Change) string { return c.Layer.HostPath + "\x00" + c.Rel }
	done := map[string]bool{}
	for i := range sel {
		done[key(&sel[i])] = true
	}
	pending := map[string]bool{} // keys of uncommitted changes
	var pendingRels []Change
	for i := range all {
		if !done[key(&all[i])] {
			pending[key(&all[i])] = true
			pendingRels = append(pendingRels, all[i])
		}
	}
	pendingUnder := func(l *Layer, rel string) bool {
		for _, c := range pendingRels {
			if c.Layer.HostPath == l.HostPath && (c.Rel == rel || strings.HasPrefix(c.Rel, rel+"/")) {
				return true
			}
		}
		return false
	}

	// Opaque directories whose whole content is committed now equal the host
	// directory: unmark them first, so that what is below can go.
	cleared := map[string]bool{}
	for i := range sel {
		c := &sel[i]
		for a := c.Rel; a != "."; a = filepath.Dir(a) {
			up := filepath.Join(c.Layer.Upper, a)
			if cleared[up] || (a == c.Rel && !(c.Kind != 'D' && c.Mode.IsDir())) {
				continue
			}
			cleared[up] = true
			if isOpaque(up, c.Layer.Engine) && !pendingUnder(c.Layer, a) {
				if err := clearOpaque(up, c.Layer.Engine); err != nil {
					return err
				}
			}
		}
	}

	order := append([]Change(nil), sel...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].Path > order[j].Path }) // children first
	for i := range order {
		c := &order[i]
		if c.upper == "" || hiddenBelowOpaque(c) {
			continue
		}
		if err := removeUpper(c); err != nil {
			return err
		}
		// Prune directories left empty that were only there as parents.
		for a := filepath.Dir(c.Rel); a != "."; a = filepath.Dir(a) {
			up := filepath.Join(c.Layer.Upper, a)
			if pending[c.Layer.HostPath+"\x00"+a] || isOpaque(up, c.Layer.Engine) || removeInUpper(up) != nil {
				break
			}
		}
	}
	return nil
}

// hiddenBelowOpaque reports an entry under a still-opaque upper directory.
func hiddenBelowOpaque(c *Change) bool {
	for a := filepath.Dir(c.Rel); a != "."; a = filepath.Dir(a) {
		if isOpaque(filepath.Join(c.Layer.Upper, a), c.Layer.Engine) {
			return true
		}
	}
	return false
}

// removeUpper removes a committed change's upper entry: a file, symlink or
// whiteout, or a directory once empty and no longer opaque.
func removeUpper(c *Change) error {
	if c.Kind != 'D' && c.Mode.IsDir() {
		if isOpaque(c.upper, c.Layer.Engine) {
			return nil
		}
		err := removeInUpper(c.upper)
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return nil
		}
		return fmt.Errorf("remove committed %s from the upper: %w", quoteShort(c.upper), err)
	}
	if err := removeInUpper(c.upper); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove committed %s from the upper: %w", quoteShort(c.upper), err)
	}
	return nil
}

// clearOpaque removes the engine's opaque markers of an upper directory.
// Another engine's are left: to this layer they are the command's data.
func clearOpaque(dir string, e Engine) error {
	m := e.markers()
	for _, x := range m.opaqueXa {
		// Only remove what is there: touching trusted.* at all needs
		// CAP_SYS_ADMIN, even to learn it is absent.
		if _, err := unix.Lgetxattr(dir, x, nil); err != nil {
			continue
		}
		err := unix.Lremovexattr(dir, x)
		if err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("unmark opaque upper directory %s: %w", quoteShort(dir), &os.SyscallError{Syscall: "lremovexattr", Err: err})
		}
	}
	if !m.whFiles {
		return nil
	}
	for _, n := range [...]string{opaqueMarker, opaqueWhDev} {
		if err := removeInUpper(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unmark opaque upper directory %s: %w", quoteShort(dir), err)
		}
	}
	return nil
}

// removeInUpper removes an upper entry. The sandboxed command may have left
// its directory read-only; as it is ours, it is made u+wx for the moment and
// then given its mode back, which the sandbox sees.
func removeInUpper(path string) error {
	err := os.Remove(path)
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	parent := filepath.Dir(path)
	info, serr := os.Lstat(parent)
	if serr != nil || info.Mode().Perm()&0o300 == 0o300 {
		return err
	}
	if cerr := os.Chmod(parent, permBits(info.Mode())|0o300); cerr != nil {
		return err
	}
	err = os.Remove(path)
	if cerr := os.Chmod(parent, permBits(info.Mode())); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// uppersBare reports uppers holding only plain directories: no file, no
// whiteout (even one for a path the host lacks, which Diff does not list but
// which would hide a host file made later) and no opaque directory.
func (sb *Sandbox) uppersBare() bool {
	layers, err := sb.Layers()
	if err != nil {
		return false
	}
	for _, l := range layers {
		bare := true
		err := filepath.WalkDir(l.Upper, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || isOpaque(p, l.Engine) {
				bare = false
				return filepath.SkipAll
			}
			return nil
		})
		if err != nil || !bare {
			return false
		}
	}
	return true
}
