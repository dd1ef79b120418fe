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

	"sandbox/quote"
)

// Change is one difference between a layer's upper and the host.
type Change struct {
	Kind  byte        // 'A' added, 'M' modified (or type changed), 'D' deleted
	Path  string      // host path
	Size  int64       // bytes of the new regular file for A and M; else 0
	Mode  fs.FileMode // the upper entry's mode for A and M, the host entry's for D
	Layer *Layer
	Rel   string // Path relative to the layer's root; never "."
	// Opaque is set for an A or M directory marked opaque in the upper: it
	// replaces the host directory rather than merging with it.
	Opaque bool

	upper string      // the upper entry (for D, the whiteout); "" for D under an opaque directory
	host  fs.FileMode // the host entry's mode for M and D, as Diff saw it
	lower string      // the entry M or D replaces: Path, or in a stacked layer its lower's file
}

// Setid reports a new file (not a directory) with setuid or setgid: a commit
// drops those bits unless asked to keep them, and listings mark it.
func (c *Change) Setid() bool {
	return c.Kind != 'D' && !c.Mode.IsDir() && c.Mode&(fs.ModeSetuid|fs.ModeSetgid) != 0
}

// Line is how listings print a change: its kind and quoted path, and a mark
// for a setuid or setgid file with its mode.
func (c *Change) Line() string {
	s := fmt.Sprintf("%c %s", c.Kind, quote.Name(c.Path))
	if c.Setid() {
		var what []string
		if c.Mode&fs.ModeSetuid != 0 {
			what = append(what, "setuid")
		}
		if c.Mode&fs.ModeSetgid != 0 {
			what = append(what, "setgid")
		}
		s += fmt.Sprintf("  [%s %s]", strings.Join(what, "+"), lsMode(c.Mode))
	}
	return s
}

// quoteShort quotes a path for an error message, shortened: paths in the
// store and uppers are chosen by the command and may be deeper than PATH_MAX.
func quoteShort(s string) string { return quote.Short(s, 240) }

// Diff compares each layer's upper with the host and returns the changes
// sorted by Path. A deleted directory is one D, not one per entry below it.
// It walks both trees with directory descriptors, never following a symlink
// below a layer's host path, so depth is not bounded by PATH_MAX. Only the
// whiteout and opaque markers of the engine that last mounted the layer count
// (Engine).
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
		d := newDiffer(&layers[i])
		if err := d.walk(); err != nil {
			return nil, nil, fmt.Errorf("diff %s: %w", quoteShort(layers[i].HostPath), err)
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
	m     markers
	root  string   // where the command saw the layer: paths are printed below it
	roots []string // the lower directories, top first: the host path alone, or a stack's
	// stacked says the lowers are an image's: their 0:0 devices and opaque
	// directories hide what is below, as the overlay showed them.
	stacked bool
	out     []Change
	stale   []Change // whiteouts of paths the host lacks
}

func newDiffer(l *Layer) *differ {
	d := &differ{l: l, m: l.Engine.markers(), root: l.HostPath, roots: []string{l.HostPath}}
	if len(l.Lowers) > 0 {
		d.root, d.roots, d.stacked = l.Mount, l.Lowers, true
	}
	return d
}

// walk diffs the layer from its roots, opened without following symlinks
// (the host path's own components included, as commits open it).
func (d *differ) walk() error {
	ufd, err := unix.Open(d.l.Upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open upper directory: %w", &os.SyscallError{Syscall: "open", Err: err})
	}
	defer unix.Close(ufd)
	ld, err := d.openLowers()
	if err != nil {
		return err
	}
	defer ld.close()
	return d.dir(".", ufd, ld, false)
}

// path joins rel to the layer's root, checking that it stays below it after
// cleaning: a name from the upper must never reach outside its tree.
func (d *differ) path(rel string) (string, error) {
	if rel == "." || !filepath.IsLocal(rel) || filepath.Clean(rel) != rel {
		return "", fmt.Errorf("refusing %s: it is not a path below the layer", quoteShort(rel))
	}
	p := filepath.Join(d.root, rel)
	if d.root != "/" && !strings.HasPrefix(p, d.root+"/") {
		return "", fmt.Errorf("refusing %s: it is not a path below the layer", quoteShort(rel))
	}
	return p, nil
}

// add records a change; lower is the index in d.roots of the entry it
// replaces or deletes (M, D).
func (d *differ) add(kind byte, rel, upper string, mode, host fs.FileMode, lower int, size int64, opaque bool) error {
	p, err := d.path(rel)
	if err != nil {
		return err
	}
	old := p
	if d.stacked {
		old = filepath.Join(d.roots[lower], rel)
	}
	d.out = append(d.out, Change{
		Kind: kind, Path: p, Size: size, Mode: mode,
		Layer: d.l, Rel: rel, Opaque: opaque, upper: upper, host: host, lower: old,
	})
	return nil
}

// dir walks the upper directory rel, open at ufd. ld is the lowers'
// directory rel (the host's, for a plain layer), empty where they lack it;
// opaque says the upper hides its entries.
func (d *differ) dir(rel string, ufd int, ld lowerDir, opaque bool) error {
	names, err := fdNames(ufd)
	if err != nil {
		return fmt.Errorf("read upper directory %s: %w", quoteShort(rel), err)
	}
	seen := map[string]bool{}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(ufd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile (a diff of a running sandbox)
			}
			return fmt.Errorf("read upper %s: %w", quoteShort(filepath.Join(rel, name)), &os.SyscallError{Syscall: "fstatat", Err: err})
		}
		target, marker, err := d.m.whiteoutTarget(name, &st)
		switch {
		case err != nil:
			return fmt.Errorf("in upper directory %s: %w", quoteShort(rel), err)
		case marker:
			continue
		case target != "":
			seen[target] = true
			if err := d.whiteout(rel, target, filepath.Join(d.l.Upper, rel, name), ld); err != nil {
				return err
			}
			continue
		}
		seen[name] = true
		if err := d.entry(rel, name, &st, ufd, ld); err != nil {
			return err
		}
	}
	if !opaque || len(ld.fds) == 0 {
		return nil
	}
	hnames, err := d.lnames(ld)
	if err != nil {
		return fmt.Errorf("read host directory %s: %w", quoteShort(rel), err)
	}
	for _, n := range hnames {
		if seen[n] {
			continue
		}
		host, lower, err := d.lstat(ld, n)
		if err != nil {
			return fmt.Errorf("read host %s: %w", quoteShort(filepath.Join(rel, n)), err)
		}
		if host != nil {
			m := modeOf(host)
			if err := d.add('D', filepath.Join(rel, n), "", m, m, lower, 0, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry classifies one upper entry that is not a whiteout or marker.
func (d *differ) entry(rel, name string, st *unix.Stat_t, ufd int, ld lowerDir) error {
	crel := filepath.Join(rel, name)
	up := filepath.Join(d.l.Upper, crel)
	host, lower, err := d.lstat(ld, name)
	if err != nil {
		return fmt.Errorf("read host %s: %w", quoteShort(crel), err)
	}
	mode := modeOf(st)
	switch mode.Type() {
	case fs.ModeSocket:
		return nil // a runtime leftover
	case fs.ModeDir:
		return d.subdir(crel, name, up, mode, host, lower, ufd, ld)
	}
	size := int64(0)
	if mode.IsRegular() {
		size = st.Size
	}
	if host == nil {
		return d.add('A', crel, up, mode, 0, 0, size, false)
	}
	return d.add('M', crel, up, mode, modeOf(host), lower, size, false)
}

// subdir classifies an upper directory and walks it.
func (d *differ) subdir(crel, name, up string, mode fs.FileMode, host *unix.Stat_t, lower, ufd int, ld lowerDir) error {
	cfd, err := unix.Openat(ufd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open upper directory %s: %w", quoteShort(crel), &os.SyscallError{Syscall: "openat", Err: err})
	}
	defer unix.Close(cfd)
	opq := d.m.fdOpaque(cfd)
	switch {
	case host == nil:
		if err := d.add('A', crel, up, mode, 0, 0, 0, opq); err != nil {
			return err
		}
		return d.dir(crel, cfd, lowerDir{}, false)
	case host.Mode&unix.S_IFMT == unix.S_IFDIR:
		hm := modeOf(host)
		if permBits(mode) != permBits(hm) {
			if err := d.add('M', crel, up, mode, hm, lower, 0, opq); err != nil {
				return err
			}
		}
		child, err := d.lchild(ld, name)
		if err != nil {
			return fmt.Errorf("open host directory %s: %w", quoteShort(crel), err)
		}
		defer child.close()
		return d.dir(crel, cfd, child, opq)
	default: // replaces a host non-directory
		if err := d.add('M', crel, up, mode, modeOf(host), lower, 0, opq); err != nil {
			return err
		}
		return d.dir(crel, cfd, lowerDir{}, false)
	}
}

// whiteout records the deletion of target in rel, if the host still has it.
func (d *differ) whiteout(rel, target, up string, ld lowerDir) error {
	crel := filepath.Join(rel, target)
	host, lower, err := d.lstat(ld, target)
	if err != nil {
		return fmt.Errorf("read host %s: %w", quoteShort(crel), err)
	}
	if host == nil {
		p, err := d.path(crel)
		if err != nil {
			return err
		}
		d.stale = append(d.stale, Change{Kind: 'D', Path: p, Layer: d.l, Rel: crel, upper: up})
		return nil
	}
	m := modeOf(host)
	return d.add('D', crel, up, m, m, lower, 0, false)
}

// statAt lstats name in the directory dirfd, or returns nil when it does not
// exist.
func statAt(dirfd int, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.SyscallError{Syscall: "fstatat", Err: err}
	}
	return &st, nil
}

// fdNames lists the directory open at fd, leaving fd open and unmoved for
// its other users (a dup shares the offset, so it is rewound).
func fdNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "dup", Err: err}
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	if _, err := unix.Seek(dup, 0, 0); err != nil {
		return nil, &os.SyscallError{Syscall: "lseek", Err: err}
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // its Path is empty: keep only the reason
		}
		return nil, err
	}
	return names, nil
}
