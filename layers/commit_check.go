package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// plan is a commit in progress: the selected changes and the host
// directories they are written through.
type plan struct {
	changes   []Change
	since     time.Time
	force     bool
	keepSetid bool                       // CommitOptions.KeepSetuid
	temps     *journal                   // where temporary names are noted; nil for none
	roots     map[*Layer]int             // O_PATH fds of the layers' host paths
	creates   map[*Layer]map[string]bool // dirs (Rel) this commit creates
	conflicts []string
}

func newPlan(sel []Change, since time.Time, opt CommitOptions) *plan {
	p := &plan{changes: sel, since: since, force: opt.Force, keepSetid: opt.KeepSetuid, roots: map[*Layer]int{}, creates: map[*Layer]map[string]bool{}}
	for _, c := range sel {
		if c.createsDir() {
			if p.creates[c.Layer] == nil {
				p.creates[c.Layer] = map[string]bool{}
			}
			p.creates[c.Layer][c.Rel] = true
		}
	}
	return p
}

func (p *plan) close() {
	for _, fd := range p.roots {
		unix.Close(fd)
	}
}

func (p *plan) root(l *Layer) (int, error) {
	if fd, ok := p.roots[l]; ok {
		return fd, nil
	}
	fd, err := openRoot(l.HostPath)
	if err != nil {
		return -1, err
	}
	p.roots[l] = fd
	return fd, nil
}

// check validates every change before anything is written.
func (p *plan) check() error {
	for i := range p.changes {
		if err := p.checkOne(&p.changes[i]); err != nil {
			return err
		}
	}
	if len(p.conflicts) > 0 && !p.force {
		return &ConflictError{Paths: p.conflicts}
	}
	return nil
}

func (p *plan) checkOne(c *Change) error {
	if err := checkUpper(c); err != nil {
		return err
	}
	root, err := p.root(c.Layer)
	if err != nil {
		return err
	}
	prel := filepath.Dir(c.Rel)
	if p.creates[c.Layer][prel] {
		return nil // the host has nothing there; the parent's own check covers its path
	}
	pfd, err := openDir(root, c.Layer.HostPath, prel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	err = unix.Fstatat(pfd, filepath.Base(c.Rel), &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		if c.Kind == 'M' { // the host removed it since the diff
			p.conflicts = append(p.conflicts, c.Path)
		}
		return checkWritable(pfd, filepath.Dir(c.Path))
	case err != nil:
		return fmt.Errorf("inspect host %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "fstatat", Err: err})
	case c.Kind == 'A': // the host created it since the diff
		p.conflicts = append(p.conflicts, c.Path)
		return nil
	case c.Kind == 'M' && c.Mode.IsDir() && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return p.checkChmod(root, c, &st)
	}
	if err := checkWritable(pfd, filepath.Dir(c.Path)); err != nil {
		return err
	}
	return p.checkReplaced(pfd, c, &st)
}

// checkChmod checks a host directory whose mode alone changes: that needs
// ownership, not a writable parent.
func (p *plan) checkChmod(root int, c *Change, st *unix.Stat_t) error {
	if int(st.Uid) != os.Geteuid() && os.Geteuid() != 0 {
		return fmt.Errorf("cannot change the mode of host directory %s: it is owned by uid %d, not by you (uid %d)", quoteShort(c.Path), st.Uid, os.Geteuid())
	}
	fd, err := openDir(root, c.Layer.HostPath, c.Rel) // as setDirAttrs will
	if err != nil {
		return err
	}
	unix.Close(fd)
	p.checkTime(c.Path, st)
	return nil
}

// checkReplaced checks the host entry st that an M or D replaces or deletes.
func (p *plan) checkReplaced(pfd int, c *Change, st *unix.Stat_t) error {
	typ := st.Mode & unix.S_IFMT
	if c.Kind == 'M' && c.Mode.IsDir() && typ == unix.S_IFLNK && !c.Opaque {
		// The overlay marks a directory made over a deleted lower entry
		// opaque; an unmarked one over a symlink means the symlink was
		// planted since. Replacing it would be safe, but is not asked for.
		buf := make([]byte, 4096)
		n, _ := unix.Readlinkat(pfd, filepath.Base(c.Rel), buf)
		return fmt.Errorf("refusing to write below %s: it is a symlink on the host (to %s), and commits never follow symlinks; leave it out of the commit", quoteShort(c.Path), quoteShort(string(buf[:max(n, 0)])))
	}
	p.checkTime(c.Path, st)
	if typ != unix.S_IFDIR || (c.Kind == 'M' && c.Mode.IsDir()) {
		return nil
	}
	var pst unix.Stat_t
	if err := unix.Fstat(pfd, &pst); err != nil || pst.Dev != st.Dev {
		return fmt.Errorf("refusing to delete host directory %s: it is a mount point", quoteShort(c.Path))
	}
	return p.checkTree(pfd, filepath.Base(c.Rel), c.Path, st.Dev)
}

// checkTime records a conflict when the host entry changed in the window.
func (p *plan) checkTime(path string, st *unix.Stat_t) {
	if !time.Unix(st.Ctim.Unix()).Before(p.since) {
		p.conflicts = append(p.conflicts, path)
	}
}

// checkTree checks a host directory the commit removes: no entry below it
// changed in the window, no mount point is inside (removal would empty the
// mounted filesystem), and every directory in it can be emptied by us.
func (p *plan) checkTree(dirfd int, name, path string, dev uint64) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot delete host directory %s: open it: %w", quoteShort(path), &os.SyscallError{Syscall: "openat", Err: err})
	}
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	if err := checkWritable(fd, path); err != nil {
		return fmt.Errorf("cannot delete host directory %s: %w", quoteShort(path), err)
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("cannot delete host directory %s: read it: %w", quoteShort(path), err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("inspect host %s: %w", quoteShort(filepath.Join(path, n)), &os.SyscallError{Syscall: "fstatat", Err: err})
		}
		p.checkTime(filepath.Join(path, n), &st)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if st.Dev != dev {
				return fmt.Errorf("refusing to delete host directory %s: %s inside it is a mount point", quoteShort(path), quoteShort(filepath.Join(path, n)))
			}
			if err := p.checkTree(fd, n, filepath.Join(path, n), dev); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkWritable reports a host directory we cannot create or remove in.
func checkWritable(fd int, path string) error {
	err := unix.Faccessat(fd, "", unix.W_OK|unix.X_OK, unix.AT_EMPTY_PATH)
	switch {
	case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return nil // no faccessat2 (Linux < 5.8): the write itself will tell
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("cannot write in host directory %s: it is on a read-only filesystem", quoteShort(path))
	case errors.Is(err, unix.EACCES):
		var st unix.Stat_t
		_ = unix.Fstat(fd, &st)
		return fmt.Errorf("cannot write in host directory %s: permission denied (mode %04o, owner uid %d, you are uid %d); make it writable (chmod u+w) or leave it out of the commit",
			quoteShort(path), st.Mode&0o7777, st.Uid, os.Getuid())
	}
	return fmt.Errorf("check access to host directory %s: %w", quoteShort(path), &os.SyscallError{Syscall: "faccessat2", Err: err})
}

// checkUpper makes sure the new content can be read before anything changes.
func checkUpper(c *Change) error {
	if c.Kind == 'D' {
		return nil
	}
	switch c.Mode.Type() {
	case 0:
		fd, err := unix.Open(c.upper, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("read new content of %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "open", Err: err})
		}
		unix.Close(fd)
	case fs.ModeSymlink:
		if _, err := readlink(c.upper); err != nil {
			return fmt.Errorf("read new symlink %s: %w", quoteShort(c.Path), err)
		}
	case fs.ModeDir, fs.ModeNamedPipe:
	default:
		return fmt.Errorf("commit %s: cannot copy a file of type %s to the host", quoteShort(c.Path), c.Mode.Type())
	}
	return nil
}
