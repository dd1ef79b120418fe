package layers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// stackFile, next to a stacked layer's upper, names its mount point and its
// lower directories (Stack).
const stackFile = "lowers"

// stack is the content of stackFile.
type stack struct {
	Mount  string   `json:"mount"`
	Lowers []string `json:"lowers"` // top first; Lowers[0] is the layer's key
}

// StackLayer is Layer for an overlay of several lower directories (an
// image's layers, top first) that the command sees at mount ("/" for an
// image's root). The layer is keyed by its top lower, which names the whole
// stack below it (a chain ID). A named sandbox records the stack, so that
// Diff compares the upper with the merged lowers as the overlay did and
// prints the paths the command saw; an ephemeral one is never diffed.
func (sb *Sandbox) StackLayer(mount string, lowers []string) (upper, work string, err error) {
	st := stack{Mount: mount, Lowers: lowers}
	if err := st.check(); err != nil {
		return "", "", fmt.Errorf("create layer: %w", err)
	}
	if upper, work, err = sb.Layer(lowers[0]); err != nil || sb.slot != nil {
		return upper, work, err
	}
	if err := sb.writeStack(filepath.Dir(upper), st); err != nil {
		return "", "", fmt.Errorf("create layer for %s: %w", quoteShort(mount), err)
	}
	return upper, work, nil
}

func (st *stack) check() error {
	if len(st.Lowers) == 0 {
		return errors.New("a stacked layer needs a lower directory")
	}
	if err := checkHostPath(st.Mount); err != nil {
		return err
	}
	for _, l := range st.Lowers {
		if err := checkHostPath(l); err != nil {
			return err
		}
	}
	return nil
}

// writeStack replaces the layer directory's stack file unless it already
// says the same (the common case: the same image run again).
func (sb *Sandbox) writeStack(dir string, st stack) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if old, err := readBelow(sb.storeRoot(), filepath.Join(dir, stackFile)); err == nil && string(old) == string(b) {
		return nil
	}
	d, err := openBelow(sb.storeRoot(), dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	dfd := int(d.Fd())
	tmp, f, err := createTempAt(dfd, ".lowers-")
	if err != nil {
		return err
	}
	defer unix.Unlinkat(dfd, tmp, 0) // no-op after the rename
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = unix.Renameat(dfd, tmp, dfd, stackFile); err != nil {
			err = &os.SyscallError{Syscall: "renameat", Err: err}
		}
	}
	return err
}

// readStack fills in l.Mount and l.Lowers from the layer directory's stack
// file, if it has one.
func (sb *Sandbox) readStack(dir string, l *Layer) error {
	b, err := readBelow(sb.storeRoot(), filepath.Join(dir, stackFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st stack
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("parse %s: %w", quoteShort(filepath.Join(dir, stackFile)), err)
	}
	if err := st.check(); err != nil || st.Lowers[0] != l.HostPath {
		return fmt.Errorf("%s does not name the stack of layer %s", quoteShort(filepath.Join(dir, stackFile)), quoteShort(l.HostPath))
	}
	l.Mount, l.Lowers = st.Mount, st.Lowers
	return nil
}

// lowerDir is one directory of a layer's merged lowers: a descriptor for it
// in each lower that has it, top first, down to the first one that hides the
// lowers below (an opaque directory). Empty where no lower has it.
type lowerDir struct {
	fds []int
	idx []int // the lower (index in differ.roots) of each fd
}

func (ld lowerDir) close() {
	for _, fd := range ld.fds {
		unix.Close(fd)
	}
}

// lowerWhiteout reports an overlay whiteout in a lower: the kernel's 0:0
// character device, which is what image layers are unpacked with.
func lowerWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// openLowers opens the roots of the layer's lowers, never following a
// symlink (as the host path of a plain layer).
func (d *differ) openLowers() (lowerDir, error) {
	var ld lowerDir
	for i, r := range d.roots {
		fd, err := openat2(unix.AT_FDCWD, r, unix.O_RDONLY|unix.O_DIRECTORY, unix.RESOLVE_NO_SYMLINKS)
		if err != nil {
			ld.close()
			return lowerDir{}, resolveError(unix.AT_FDCWD, r, "/", r, err)
		}
		ld.fds, ld.idx = append(ld.fds, fd), append(ld.idx, i)
	}
	return ld, nil
}

// lstat returns what the merged lowers hold at name in ld, and the lower it
// comes from; nil when none has it or a whiteout hides it.
func (d *differ) lstat(ld lowerDir, name string) (*unix.Stat_t, int, error) {
	for i, fd := range ld.fds {
		st, err := statAt(fd, name)
		if err != nil {
			return nil, 0, err
		}
		if st == nil {
			continue
		}
		if d.stacked && lowerWhiteout(st) {
			return nil, 0, nil
		}
		return st, ld.idx[i], nil
	}
	return nil, 0, nil
}

// lnames lists the merged directory ld: every name of its lowers that the
// first lower holding it does not white out.
func (d *differ) lnames(ld lowerDir) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, fd := range ld.fds {
		names, err := fdNames(fd)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			st, err := statAt(fd, n)
			if err != nil {
				return nil, err
			}
			if st != nil && !(d.stacked && lowerWhiteout(st)) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// lchild opens the merged directory name in ld: it in each lower top first,
// stopping at a lower where it is not a directory (that hides the rest) or
// is an opaque one. The caller closes the result.
func (d *differ) lchild(ld lowerDir, name string) (lowerDir, error) {
	var out lowerDir
	for i, fd := range ld.fds {
		st, err := statAt(fd, name)
		if err != nil {
			out.close()
			return lowerDir{}, err
		}
		if st == nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			break
		}
		cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			out.close()
			return lowerDir{}, &os.SyscallError{Syscall: "openat", Err: err}
		}
		out.fds, out.idx = append(out.fds, cfd), append(out.idx, ld.idx[i])
		if d.stacked && EngineKernel.markers().fdOpaque(cfd) {
			break
		}
	}
	return out, nil
}
