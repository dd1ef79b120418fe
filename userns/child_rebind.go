package userns

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// rebind clones the subtree at m.Dst inside the new root and attaches the
// clone on the same place, read-only with m.ReadOnly. It works on what the
// sandbox already shows there (a writable bind of the host, usually), not on
// a host path, so the step cannot reveal anything an earlier step covered.
//
// The parent is resolved inside the new root (RESOLVE_IN_ROOT) and the last
// component is opened O_NOFOLLOW: for a symlink, the link itself becomes the
// mount point, so it can be neither removed nor replaced (the kernel refuses
// to unlink or rename over a mount point in the caller's namespace).
func rebind(m Mount) error {
	dir, err := openInRoot(newRoot, path.Dir(m.Dst))
	if m.Optional && errors.Is(err, unix.ENOENT) {
		return nil // an OCI readonlyPath the root does not have
	}
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, path.Base(m.Dst), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if m.Optional && errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		// Fail closed: the parent planned this step because the path
		// existed; without it the path would be writable.
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	defer unix.Close(tree)
	if m.ReadOnly {
		// Recursive: a mount below the protected path (a host mount
		// inside the bind) must not stay writable. The user's own later
		// --rw steps are attached after this one and keep their mode.
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("make read-only: %w", err)
		}
	}
	if err := unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return nil
}
