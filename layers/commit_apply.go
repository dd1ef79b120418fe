package layers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// apply writes the checked changes, logging each one as it lands.
func (p *plan) apply(out io.Writer) error {
	var dirs []*Change
	for i := range p.changes {
		c := &p.changes[i]
		if err := p.applyOne(c); err != nil {
			return err
		}
		if c.Kind != 'D' && c.Mode.IsDir() {
			dirs = append(dirs, c)
		}
		fmt.Fprintln(out, p.line(c))
	}
	// Modes last, deepest first: a read-only directory gets its content first.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := p.setDirAttrs(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *plan) applyOne(c *Change) error {
	root := p.roots[c.Layer]
	pfd, err := openDir(root, c.Layer.HostPath, filepath.Dir(c.Rel))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	base := filepath.Base(c.Rel)
	var st unix.Stat_t
	err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	exists := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("inspect host %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "fstatat", Err: err})
	}
	hostDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case c.Kind == 'D':
		if !exists {
			return nil
		}
		if hostDir {
			return p.removeDir(pfd, base, c.Path)
		}
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return fmt.Errorf("delete host %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "unlinkat", Err: err})
		}
		return nil
	case c.Mode.IsDir():
		if hostDir {
			return nil // mode set later; an opaque one's deletions are their own changes
		}
		if !exists {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("create host directory %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "mkdirat", Err: err})
			}
			return nil
		}
		tmp, err := p.tempName(filepath.Dir(c.Path), func(name string) error { return unix.Mkdirat(pfd, name, 0o700) })
		if err != nil {
			return fmt.Errorf("create host directory %s: %w", quoteShort(c.Path), err)
		}
		return p.replace(pfd, tmp, base, c.Path)
	}
	tmp, err := p.newTemp(pfd, c)
	if err != nil {
		return err
	}
	if hostDir {
		return p.replace(pfd, tmp, base, c.Path)
	}
	if err := unix.Renameat(pfd, tmp, pfd, base); err != nil {
		_ = unix.Unlinkat(pfd, tmp, 0)
		return fmt.Errorf("replace host %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "renameat", Err: err})
	}
	return nil
}

// replace puts tmp in base's place when their types differ (rename(2) cannot
// swap a directory and a file) and removes what base was.
func (p *plan) replace(pfd int, tmp, base, path string) error {
	err := unix.Renameat2(pfd, tmp, pfd, base, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) {
		// The filesystem cannot exchange: move the old one aside, briefly
		// leaving no entry at path.
		aside, aerr := p.tempName(filepath.Dir(path), func(name string) error {
			return unix.Renameat2(pfd, base, pfd, name, unix.RENAME_NOREPLACE)
		})
		if aerr == nil {
			err = unix.Renameat(pfd, tmp, pfd, base)
		}
		tmp = aside
		if aerr != nil {
			err = aerr
		}
	}
	if err != nil {
		_ = removeAt(pfd, tmp, path, false)
		return fmt.Errorf("replace host %s: %w", quoteShort(path), &os.SyscallError{Syscall: "renameat2", Err: err})
	}
	if err := removeAt(pfd, tmp, filepath.Join(filepath.Dir(path), tmp), false); err != nil {
		return fmt.Errorf("replaced host %s, but removing its old content failed: %w", quoteShort(path), err)
	}
	return nil
}

// removeDir deletes a host directory tree. Renaming it away first makes the
// deletion atomic as seen at its path, whatever happens while emptying it.
func (p *plan) removeDir(pfd int, base, path string) error {
	aside, err := p.tempName(filepath.Dir(path), func(name string) error {
		return unix.Renameat2(pfd, base, pfd, name, unix.RENAME_NOREPLACE)
	})
	if err != nil {
		return fmt.Errorf("delete host directory %s: %w", quoteShort(path), err)
	}
	asidePath := filepath.Join(filepath.Dir(path), aside)
	if err := removeAt(pfd, aside, asidePath, false); err != nil {
		return fmt.Errorf("delete host directory %s (moved to %s): %w", quoteShort(path), quoteShort(asidePath), err)
	}
	return nil
}

// newTemp creates c's new file, symlink or FIFO under a temporary name in
// pfd, with the upper's content, mode, times and, when ours, group.
func (p *plan) newTemp(pfd int, c *Change) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(c.upper, &st); err != nil {
		return "", fmt.Errorf("read new content of %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "lstat", Err: err})
	}
	var tmp string
	var err error
	switch c.Mode.Type() {
	case 0:
		tmp, err = p.writeTemp(pfd, c, &st)
	case fs.ModeSymlink:
		var target string
		if target, err = readlink(c.upper); err == nil {
			tmp, err = p.tempName(filepath.Dir(c.Path), func(name string) error { return unix.Symlinkat(target, pfd, name) })
		}
	case fs.ModeNamedPipe:
		tmp, err = p.tempName(filepath.Dir(c.Path), func(name string) error { return unix.Mkfifoat(pfd, name, 0o600) })
		if err == nil {
			err = unix.Fchmodat(pfd, tmp, p.fileMode(c.Mode), 0) // ours, just made: not a symlink
		}
	default:
		err = fmt.Errorf("cannot copy a file of type %s", c.Mode.Type())
	}
	if err == nil && c.Mode.Type() != 0 {
		chownOurs(pfd, tmp, &st, unix.AT_SYMLINK_NOFOLLOW)
		err = unix.UtimesNanoAt(pfd, tmp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		if tmp != "" {
			_ = unix.Unlinkat(pfd, tmp, 0)
		}
		return "", fmt.Errorf("write host %s: %w", quoteShort(c.Path), err)
	}
	return tmp, nil
}

// writeTemp copies a regular upper file to a new temporary file, synced.
func (p *plan) writeTemp(pfd int, c *Change, st *unix.Stat_t) (string, error) {
	sfd, err := unix.Open(c.upper, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.SyscallError{Syscall: "open", Err: err}
	}
	src := os.NewFile(uintptr(sfd), "upper")
	defer src.Close()
	var fd int
	tmp, err := p.tempName(filepath.Dir(c.Path), func(name string) (err error) {
		fd, err = unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return "", err
	}
	dst := os.NewFile(uintptr(fd), tmp)
	_, err = io.Copy(dst, src)
	if err == nil {
		chownOurs(fd, "", st, unix.AT_EMPTY_PATH)
		err = unix.Fchmod(fd, p.safeMode(fd, c.Mode, st)) // after chown, which clears setuid
	}
	if err == nil {
		err = unix.UtimesNanoAt(pfd, tmp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		err = dst.Sync() // the data is on disk before the rename can be
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlinkat(pfd, tmp, 0)
		return "", err
	}
	return tmp, nil
}

// chownOurs gives the new file the upper's group when the upper file is ours
// (an unprivileged user cannot give files away, and should not try for
// sub-IDs); failure keeps our primary group.
func chownOurs(fd int, name string, st *unix.Stat_t, flags int) {
	if int(st.Uid) == os.Geteuid() && int(st.Gid) != os.Getegid() {
		_ = unix.Fchownat(fd, name, -1, int(st.Gid), flags)
	}
}

// fileMode is the mode a new non-directory gets: the upper's, less setuid
// and setgid unless the commit keeps them (issue 22: a file chmod 4777 inside
// would land as a world-writable setuid program of the user's).
func (p *plan) fileMode(m fs.FileMode) uint32 {
	mode := unixMode(m)
	if !p.keepSetid {
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	return mode
}

// safeMode is fileMode for the new file fd, and even when setuid and setgid
// are kept, less setuid unless the upper file is ours, and less setgid
// unless it also kept the upper's group. A commit run as root must not turn
// sandbox content into a setuid-root program.
func (p *plan) safeMode(fd int, m fs.FileMode, upper *unix.Stat_t) uint32 {
	mode := p.fileMode(m)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Uid != upper.Uid {
		return mode &^ (unix.S_ISUID | unix.S_ISGID)
	}
	if st.Gid != upper.Gid {
		mode &^= unix.S_ISGID
	}
	return mode
}

// setDirAttrs gives a committed directory the upper's mode, times and group.
func (p *plan) setDirAttrs(c *Change) error {
	var st unix.Stat_t
	if err := unix.Lstat(c.upper, &st); err != nil {
		return fmt.Errorf("read new directory %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "lstat", Err: err})
	}
	fd, err := openDir(p.roots[c.Layer], c.Layer.HostPath, c.Rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	chownOurs(fd, "", &st, unix.AT_EMPTY_PATH)
	// An O_PATH fd has no fchmod; fchmodat2 (Linux 6.6) takes AT_EMPTY_PATH,
	// and /proc/self/fd reaches the same directory on older kernels.
	err = unix.Fchmodat(fd, "", unixMode(c.Mode), unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), unixMode(c.Mode))
	}
	if err != nil {
		return fmt.Errorf("set mode of host directory %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "fchmodat", Err: err})
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	err = unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), ts, 0)
	}
	if err != nil {
		return fmt.Errorf("set times of host directory %s: %w", quoteShort(c.Path), &os.SyscallError{Syscall: "utimensat", Err: err})
	}
	return nil
}

// tempName calls create with fresh random names until one is free: names
// are in the target's directory dir, so a rename into place stays atomic.
// Each name is noted in the journal before it is made, so that a commit
// killed halfway leaves nothing the next one does not remove (cleanTemps).
func (p *plan) tempName(dir string, create func(name string) error) (string, error) {
	for range 8 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := tempPrefix + hex.EncodeToString(b[:])
		if err := p.temps.note(dir, name); err != nil {
			return "", err
		}
		err := create(name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", err
		}
	}
	return "", fmt.Errorf("pick a temporary name: %w", unix.EEXIST)
}

// readlink reads an upper symlink; its error does not repeat the path, which
// the command chose and may be longer than an error line should be.
func readlink(path string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", &os.SyscallError{Syscall: "readlink", Err: err}
	}
	return string(buf[:n]), nil
}
