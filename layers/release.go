package layers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pristine is a layer's upper as Layer handed it out, to be put back so at
// the end of the run.
type pristine struct {
	upper, work string
	perm        uint32 // mode bits (chmod(2) form): the host directory's
	gid         uint32
	mtime       unix.Timespec
}

// slotLayer is Layer for an ephemeral sandbox. In a slot from the pool the
// layer is usually there and empty, as Release left it: that costs a stat of
// the host directory and an lstat of the upper, and writes nothing unless the
// host directory's mode changed since (a new upper takes the host's mode).
func (sb *Sandbox) slotLayer(hostPath string) (upper, work string, err error) {
	if sb.lock == nil || sb.slot.done {
		return "", "", fmt.Errorf("create layer for %q: ephemeral sandbox %s is released", hostPath, sb.Dir)
	}
	key := encodeKey(hostPath)
	dir := filepath.Join(sb.Dir, layersDir, key)
	p := pristine{upper: filepath.Join(dir, "upper"), work: filepath.Join(dir, "work"), perm: 0o700}
	var st unix.Stat_t
	if unix.Stat(hostPath, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		p.perm = st.Mode & 0o7777
	}
	err = unix.Lstat(p.upper, &st)
	made := errors.Is(err, unix.ENOENT)
	switch {
	case made:
		sb.slot.grew = true
		err = makeLayer(sb.storeRoot(), dir, p, &st)
	case err != nil:
		err = &os.PathError{Op: "lstat", Path: p.upper, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		err = &SymlinkError{Path: p.upper}
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		err = fmt.Errorf("%s is not a directory", p.upper)
	}
	if err == nil && st.Mode&0o7777 != p.perm {
		// New, or the host directory's mode changed since it was made.
		err = chmodBelow(sb.storeRoot(), p.upper, p.perm)
	}
	if err != nil {
		return "", "", fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	// The path file comes last, as in Layer; a spelled-out key names its
	// host path itself, a hashed one is checked against the file.
	if made || strings.HasPrefix(key, hashedKeyPrefix) {
		if err := sb.checkPathFile(dir, hostPath); err != nil {
			return "", "", err
		}
	}
	p.gid, p.mtime = st.Gid, st.Mtim
	sb.slot.used[key] = p
	return p.upper, p.work, nil
}

// makeLayer makes a layer's directories in a slot, work before upper so that
// an upper never lacks its work directory, and stats the upper.
func makeLayer(root, dir string, p pristine, st *unix.Stat_t) error {
	for _, d := range []string{filepath.Dir(dir), dir, p.work} {
		if err := mkdirBelow(root, d, 0o700); err != nil {
			return err
		}
	}
	if err := os.Mkdir(p.upper, 0o700); err != nil {
		return err
	}
	if err := unix.Lstat(p.upper, st); err != nil {
		return &os.PathError{Op: "lstat", Path: p.upper, Err: err}
	}
	return nil
}

// Release ends a run in an ephemeral sandbox and puts its slot back in the
// pool: each upper the run changed is emptied, with its work directory, and
// its mode, group, modification time and extended attributes are put back as
// Layer handed it out, so that the next run sees nothing of this one. Layers
// this run did not ask for are dropped when it made new ones. Then the lock
// file is truncated (the slot is fit for reuse) and the lock released.
//
// A slot numbered poolCap or more, or one that cannot be put back, is
// destroyed instead, as Destroy does. Entries owned by a sub-ID may defeat
// both: the error then names one, and the sandbox stays locked; remove sb.Dir
// (renamed out of the pool by then) from a user namespace that maps those
// IDs and call Release again. Release after success does nothing.
func (sb *Sandbox) Release() error {
	switch {
	case sb.slot == nil:
		return fmt.Errorf("release sandbox %s: not an ephemeral sandbox", sb.label())
	case sb.slot.done:
		return nil
	case sb.lock == nil:
		return fmt.Errorf("release ephemeral sandbox %s: not locked", sb.Dir)
	}
	put := !sb.slot.retired && sb.slot.index < poolCap &&
		sameFile(sb.lock, filepath.Join(sb.Dir, lockFile)) && sb.putBack() == nil
	if put {
		// An empty lock file marks it released: the next start takes it.
		_ = sb.lock.Truncate(0)
	} else if err := sb.Destroy(); err != nil {
		return fmt.Errorf("release ephemeral sandbox: %w", err)
	}
	sb.lock.Close()
	sb.lock = nil
	sb.slot.done = true
	return nil
}

// putBack empties and restores the layers this run asked for, and drops the
// others when the run made new ones (the set of layers changed).
func (sb *Sandbox) putBack() error {
	keys := make([]string, 0, len(sb.slot.used))
	for k := range sb.slot.used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	uid := os.Geteuid()
	for _, k := range keys {
		if err := sb.slot.used[k].restore(uid); err != nil {
			return err
		}
		openWorkDir(sb.storeRoot(), sb.slot.used[k].work)
	}
	if !sb.slot.grew {
		return nil
	}
	dir := filepath.Join(sb.Dir, layersDir)
	d, err := openBelow(sb.storeRoot(), dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := sb.slot.used[n]; !ok {
			if err := removeAt(int(d.Fd()), n, filepath.Join(dir, n), true); err != nil {
				return err
			}
		}
	}
	return nil
}

// restore puts one upper back as Layer handed it out. An upper left alone
// costs six read-only system calls.
func (p pristine) restore(uid int) error {
	fd, st, err := openUpper(p.upper)
	if fd < 0 {
		return err
	}
	defer unix.Close(fd)
	if int(st.Uid) != uid {
		return fmt.Errorf("put back %q: it is owned by uid %d, not by you (uid %d)", p.upper, st.Uid, uid)
	}
	full, err := hasEntries(fd, p.upper)
	if err == nil && full {
		err = emptyPath(p.upper)
		if err == nil {
			err = emptyPath(p.work)
		}
	}
	if err != nil {
		return err
	}
	foreign, err := foreignXattrs(fd, p.upper)
	if err != nil {
		return err
	}
	for _, name := range foreign {
		if err := unix.Fremovexattr(fd, name); err != nil && !errors.Is(err, unix.ENODATA) {
			return &os.PathError{Op: "removexattr " + name, Path: p.upper, Err: err}
		}
	}
	return p.restoreAttrs(fd, st, full || len(foreign) > 0)
}

// restoreAttrs puts back mode, group and mtime; emptying may have changed
// the first and surely changed the last.
func (p pristine) restoreAttrs(fd int, st unix.Stat_t, touched bool) error {
	if touched || st.Mode&0o7777 != p.perm {
		if err := unix.Fchmod(fd, p.perm); err != nil {
			return &os.PathError{Op: "chmod", Path: p.upper, Err: err}
		}
	}
	if st.Gid != p.gid {
		if err := unix.Fchown(fd, -1, int(p.gid)); err != nil {
			return &os.PathError{Op: "chown", Path: p.upper, Err: err}
		}
	}
	if touched || st.Mtim != p.mtime {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, p.mtime}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p.upper, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "utimensat", Path: p.upper, Err: err}
		}
	}
	return nil
}

// openUpper opens an upper and stats it. The command may have made the
// overlay's root (the upper) unreadable: it is ours, so make it readable. A
// missing upper gives fd -1 and no error: nothing to put back.
func openUpper(path string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := openOwnDir(path)
	if errors.Is(err, unix.EACCES) && chmodNoFollow(path, 0o700) == nil {
		fd, err = openOwnDir(path)
	}
	if errors.Is(err, unix.ENOENT) {
		return -1, st, nil
	}
	if err != nil {
		return -1, st, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return fd, st, nil
}

func openOwnDir(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// hasEntries reports whether the directory open at fd holds anything.
func hasEntries(fd int, path string) (bool, error) {
	var buf [2048]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err != nil {
			return false, &os.PathError{Op: "getdents", Path: path, Err: err}
		}
		if n <= 0 {
			return false, nil
		}
		if _, count, _ := unix.ParseDirent(buf[:n], 1, nil); count > 0 { // skips . and ..
			return true, nil
		}
	}
}

// emptyPath removes what the directory path holds, if it exists.
func emptyPath(path string) error {
	fd, err := openOwnDir(path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return emptyDir(f, path, true)
}

// foreignXattrs lists the extended attributes of the directory at fd that a
// run may have set through the overlay's root: all but the overlay's own
// (user.overlay.uuid is set at the first mount and kept) and the security
// modules' labels.
func foreignXattrs(fd int, path string) ([]string, error) {
	buf := make([]byte, 1024)
	n, err := unix.Flistxattr(fd, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Flistxattr(fd, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Flistxattr(fd, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" && !ownXattr(name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func ownXattr(name string) bool {
	for _, p := range [...]string{"user.overlay.", "trusted.overlay.", "user.fuseoverlayfs.", "security."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// chmodBelow changes the mode of a directory below root, following no
// symlink.
func chmodBelow(root, path string, mode uint32) error {
	f, err := openBelow(root, path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fchmod(int(f.Fd()), mode); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// chmodNoFollow changes the mode of path unless it is a symlink (fchmodat
// has no working AT_SYMLINK_NOFOLLOW: an O_PATH fd and /proc stand in).
func chmodNoFollow(path string, mode uint32) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}
