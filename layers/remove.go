package layers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Destroy removes the sandbox's directory, taking the lock first unless it is
// held (a sandbox in use gives a *BusyError), and releases it after. An
// ephemeral sandbox leaves the pool first (its Dir becomes a .old- name) and
// its lock stays held until Release or Unlock.
//
// Uppers hold whatever the sandboxed command left: directories without write
// or search permission are made u+rwx on the way down. Entries owned by a
// sub-ID that cannot be removed that way give an error naming one and the fix.
func (sb *Sandbox) Destroy() error {
	return sb.destroy(nil)
}

// Remover removes a directory tree whatever IDs own its entries: the caller's
// way of acting as root over its own sub-IDs (a user namespace with its map).
type Remover func(dir string) error

func (sb *Sandbox) destroy(asOwner Remover) error {
	if sb.slot != nil && sb.slot.done {
		return nil // released: the slot is no longer ours
	}
	release, err := sb.hold()
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", sb.label(), err)
	}
	defer release()
	if err := sb.retire(); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", sb.label(), err)
	}
	if sb.slot != nil && sb.slot.gone {
		return nil
	}
	err = removeTree(sb.Dir)
	if err != nil && asOwner != nil && isPermission(err) {
		// Entries of the command's other IDs (a --uid 0 run's chown,
		// files it made as another user): all of them in one go.
		if oerr := asOwner(sb.Dir); oerr != nil {
			return fmt.Errorf("remove sandbox %s: %w; fix (as root): rm -rf %s", sb.label(), oerr, quoteShort(sb.Dir))
		}
		err = removeTree(sb.Dir) // the lock file, if a Lock made it again
	}
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", sb.label(), err)
	}
	return nil
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// removeTree removes dir and everything below it.
func removeTree(dir string) error {
	parent, name := filepath.Split(dir)
	d, err := os.Open(parent)
	if err != nil {
		return err
	}
	defer d.Close()
	// A concurrent Lock may recreate the lock file just before the final
	// rmdir; go round again (its Lock then fails: the file is gone).
	for range 3 {
		err = removeAt(int(d.Fd()), name, dir, true)
		if !errors.Is(err, unix.ENOTEMPTY) {
			break
		}
	}
	return err
}

// removeAt removes name in directory dirfd and everything below it without
// following symlinks. With fixPerms, directories we own are made u+rwx first;
// without it (host trees during commit) a permission error is returned. path
// is for error messages only.
func removeAt(dirfd int, name, path string, fixPerms bool) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return removeError(dirfd, name, path, "unlinkat", err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) && fixPerms {
		// fchmodat follows symlinks, but unlinkat said EISDIR: a directory.
		if cerr := unix.Fchmodat(dirfd, name, 0o700, 0); cerr != nil {
			return removeError(dirfd, name, path, "openat", err)
		}
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil // removed meanwhile (two removers of a stale tree)
	}
	if err != nil {
		return removeError(dirfd, name, path, "openat", err)
	}
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	if err := emptyDir(dir, path, fixPerms); err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return removeError(dirfd, name, path, "unlinkat", err)
	}
	return nil
}

// emptyDir removes everything in the open directory dir.
func emptyDir(dir *os.File, path string, fixPerms bool) error {
	fd := int(dir.Fd())
	if fixPerms {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err == nil && st.Mode&0o700 != 0o700 && int(st.Uid) == os.Getuid() {
			_ = unix.Fchmod(fd, st.Mode&0o7777|0o700)
		}
	}
	for {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			if err := removeAt(fd, n, filepath.Join(path, n), fixPerms); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ENOENT) {
			return nil // ENOENT: the directory itself was removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("read directory %s: %w", quoteShort(path), err)
		}
		if _, err := dir.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("read directory %s: %w", quoteShort(path), err)
		}
	}
}

// removeError explains a failed removal: who owns what, and what to run.
func removeError(dirfd int, name, path, syscall string, err error) error {
	serr := &os.SyscallError{Syscall: syscall, Err: err}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remove %s: %w", quoteShort(path), serr)
	}
	// Unlinking needs a writable directory, and emptying a directory needs
	// to own it (to chmod it): name the first that a sub-ID owns.
	const fix = "remove it from a user namespace that maps that ID (a sub-ID of yours), e.g. `unshare --map-root-user --map-auto rm -rf %q`, then retry"
	var st, pst unix.Stat_t
	if unix.Fstat(dirfd, &pst) == nil && int(pst.Uid) != os.Getuid() {
		return fmt.Errorf("remove %s: %w: its directory is owned by uid %d, not by you (uid %d); "+fix, quoteShort(path), serr, pst.Uid, os.Getuid(), filepath.Dir(path))
	}
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("remove %s: %w: it is owned by uid %d, not by you (uid %d); "+fix, quoteShort(path), serr, st.Uid, os.Getuid(), path)
	}
	return fmt.Errorf("remove %s: %w: its directory is not writable by you", quoteShort(path), serr)
}
