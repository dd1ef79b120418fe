package layers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Commits write through directory fds resolved with openat2, never through
// path strings: a symlink planted on the host (or a path component swapped
// for one mid-commit) makes the resolution fail instead of redirecting a
// write outside the layer's host directory. See openat2(2). Mount points are
// crossed, as fuse-overlayfs does (a kernel overlay's lower is one filesystem,
// but its mounter gives each host mount its own layer); only removing a tree
// stops at them (plan.checkTree).
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openRoot opens a layer's host directory as an O_PATH fd, refusing a symlink
// anywhere in its path: the host path was resolved when it was mounted, so a
// symlink there now was put there since.
func openRoot(hostPath string) (int, error) {
	fd, err := openat2(unix.AT_FDCWD, hostPath, unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		return -1, resolveError(unix.AT_FDCWD, hostPath, "/", hostPath, err)
	}
	return fd, nil
}

// openDir opens the directory rel below root as an O_PATH fd without
// following any symlink or leaving root. hostPath is root's path, for errors.
func openDir(root int, hostPath, rel string) (int, error) {
	fd, err := openat2(root, rel, unix.O_PATH|unix.O_DIRECTORY, beneath)
	if err != nil {
		return -1, resolveError(root, rel, hostPath, filepath.Join(hostPath, rel), err)
	}
	return fd, nil
}

func openat2(dirfd int, path string, flags uint64, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	for range 16 {
		fd, err := unix.Openat2(dirfd, path, &how)
		// EAGAIN: a rename raced with RESOLVE_BENEATH's check; EINTR: a signal.
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOSYS) {
			return -1, fmt.Errorf("openat2 is missing (Linux 5.6 or newer is needed to commit safely): %w", err)
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// resolveError explains why rel below dirfd could not be opened, naming the
// symlink or non-directory in the way when there is one.
func resolveError(dirfd int, rel, base, full string, err error) error {
	serr := &os.SyscallError{Syscall: "openat2", Err: err}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		if p, target, ok := findSymlink(dirfd, rel, base); ok {
			return fmt.Errorf("refusing to write below %s: it is a symlink on the host (to %s), and commits never follow symlinks: %w", quoteShort(p), quoteShort(target), serr)
		}
		return fmt.Errorf("refusing to write below %s: a component is not a directory on the host: %w", quoteShort(full), serr)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("open host directory %s: it does not exist (removed since the diff?): %w", quoteShort(full), serr)
	case errors.Is(err, unix.EACCES):
		return fmt.Errorf("open host directory %s: you lack search (x) permission on it or a parent: %w", quoteShort(full), serr)
	}
	return fmt.Errorf("open host directory %s: %w", quoteShort(full), serr)
}

// findSymlink walks rel's components below dirfd and returns the first that
// is a symlink, joined to base, with its target.
func findSymlink(dirfd int, rel, base string) (path, target string, ok bool) {
	cur := ""
	if filepath.IsAbs(rel) {
		cur = "/"
	}
	for _, c := range strings.Split(filepath.Clean(rel), "/") {
		if c == "" || c == "." {
			continue
		}
		cur = filepath.Join(cur, c)
		var st unix.Stat_t
		if unix.Fstatat(dirfd, cur, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			return "", "", false
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			buf := make([]byte, 4096)
			n, _ := unix.Readlinkat(dirfd, cur, buf)
			return filepath.Join(base, cur), string(buf[:max(n, 0)]), true
		}
	}
	return "", "", false
}
