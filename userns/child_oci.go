package userns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The mount kinds only the OCI runtime's plans use (sandbox-runc; see
// oci.go for its create/start handshake).

// sysfs mounts a read-only sysfs at m.Dst. The kernel lets a user namespace
// mount one only over a network namespace it owns; where the sandbox keeps
// the host's network (the config asked for no network namespace), the
// host's /sys is bound read-only instead, as runc does rootless.
func sysfs(m Mount) error {
	mnt, err := newFS("sysfs", withSource(nil, m.Source),
		unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if errors.Is(err, unix.EPERM) {
		return bind(Mount{Kind: Bind, Src: "/sys", Dst: m.Dst, ReadOnly: true})
	}
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	return attach(mnt, m.Dst, true)
}

// mask covers p as the new root shows it, if it is there: a directory with
// an empty read-only tmpfs, anything else with /dev/null (runc's
// maskedPaths).
func mask(p string) error {
	return maskWith(p, func(target int) error {
		var st unix.Stat_t
		if err := unix.Fstat(target, &st); err != nil {
			return err
		}
		var mnt int
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			mnt, err = newFS("tmpfs", map[string]string{"mode": "555"},
				unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		} else {
			mnt, err = unix.OpenTree(unix.AT_FDCWD, oldRoot+"/dev/null", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		}
		if err != nil {
			return err
		}
		defer unix.Close(mnt)
		return unix.MoveMount(mnt, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	})
}

// readOnlyRoot makes the new root's own mount read-only, not the mounts on
// it (the config's tmpfs and binds keep their modes, as with runc).
func readOnlyRoot() error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, newRoot, 0, attr); err != nil {
		return fmt.Errorf("make the root read-only: %w", err)
	}
	return nil
}
