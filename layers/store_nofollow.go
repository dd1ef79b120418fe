package layers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The store never follows a symlink below its root (issue 13, W2): a
// sandbox, its lock, meta.json, layers and slots are opened relative to the
// root with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), and an entry that is
// a symlink is refused, so that `ln -s SOMEDIR ~/.local/share/sandbox/x;
// sandbox rm x` creates, reads and removes nothing in SOMEDIR. The root
// itself may be a symlink: where the store lives is the user's choice.
const belowStore = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// SymlinkError is an entry of the store that is a symlink.
type SymlinkError struct{ Path string }

func (e *SymlinkError) Error() string {
	return fmt.Sprintf("refusing %s: it is a symlink in the store of sandboxes, which never follows symlinks; remove it", quoteShort(e.Path))
}

// openBelow opens path, which lies below root (or is root), without
// following a symlink anywhere below root.
func openBelow(root, path string, flags int, mode uint32) (*os.File, error) {
	rel, err := filepath.Rel(root, path)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return nil, fmt.Errorf("open %s: not below the store %s", quoteShort(path), quoteShort(root))
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Mode: uint64(mode), Resolve: belowStore}
	if rel == "." {
		how.Resolve = 0
	}
	for range 16 {
		fd, err := unix.Openat2(rfd, rel, &how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
			return nil, &SymlinkError{Path: symlinkIn(rfd, rel, root)}
		case errors.Is(err, unix.ENOTDIR):
			// O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR.
			if p, _, ok := findSymlink(rfd, rel, root); ok {
				return nil, &SymlinkError{Path: p}
			}
		case errors.Is(err, unix.ENOSYS):
			return nil, fmt.Errorf("open %s: openat2 is missing (Linux 5.6 or newer is needed): %w", quoteShort(path), err)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: unix.EAGAIN}
}

// symlinkIn names the first symlink below root on the way to rel.
func symlinkIn(rfd int, rel, root string) string {
	if p, _, ok := findSymlink(rfd, rel, root); ok {
		return p
	}
	return filepath.Join(root, rel)
}

// mkdirBelow makes the directory path below root unless it exists, and
// checks that what is there is a directory and no symlink.
func mkdirBelow(root, path string, perm uint32) error {
	parent, err := openBelow(root, filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd, base := int(parent.Fd()), filepath.Base(path)
	if err := unix.Mkdirat(pfd, base, perm); err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return isDirEntry(pfd, base, path)
}

// readBelow reads a small file below root.
func readBelow(root, path string) ([]byte, error) {
	f, err := openBelow(root, path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := regularFile(int(f.Fd()), path); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// regularFile refuses what fd is unless it is a regular file: the store's
// small files are read opened O_NONBLOCK, so that a FIFO put in the place of
// one makes us refuse it instead of waiting for a writer for ever.
func regularFile(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a regular file; remove it", quoteShort(path))
	}
	return nil
}

// checkEntry refuses a store entry (a sandbox's directory) that is a symlink
// or not a directory; a missing one gives fs.ErrNotExist.
func checkEntry(path string) error {
	return isDirEntry(unix.AT_FDCWD, path, path)
}

// isDirEntry checks that name in dirfd is a directory, not a symlink.
func isDirEntry(dirfd int, name, path string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return nil
	case unix.S_IFLNK:
		return &SymlinkError{Path: path}
	}
	return fmt.Errorf("%s is not a directory", quoteShort(path))
}

// storeRoot is the store the sandbox lives in, for opening below it.
func (sb *Sandbox) storeRoot() string {
	if sb.root != "" {
		return sb.root
	}
	if sb.slot != nil || sb.Name == "" {
		return filepath.Dir(filepath.Dir(sb.Dir)) // .ephemeral/slot-N
	}
	return filepath.Dir(sb.Dir)
}

// openFile opens rel in the sandbox's directory, following no symlink.
func (sb *Sandbox) openFile(rel string, flags int, mode uint32) (*os.File, error) {
	return openBelow(sb.storeRoot(), filepath.Join(sb.Dir, rel), flags, mode)
}

// openDir opens the sandbox's directory itself, following no symlink.
func (sb *Sandbox) openSelf() (*os.File, error) {
	return openBelow(sb.storeRoot(), sb.Dir, unix.O_PATH|unix.O_DIRECTORY, 0)
}
