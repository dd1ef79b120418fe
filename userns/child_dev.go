package userns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// devNodes are bound from the host's /dev: a user namespace cannot mknod, and a
// bind keeps the host mount's permission to open devices.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// makeDev builds a minimal /dev at dst: a tmpfs holding the device nodes above,
// a new devpts instance (so the sandbox cannot reach the host's ptys), /dev/shm
// and the usual symlinks.
func makeDev(dst string) error {
	dev, err := newFS("tmpfs", map[string]string{"mode": "755"}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := attach(dev, dst, true); err != nil {
		return err
	}
	// dev now names the attached tmpfs's root: everything below is made
	// relative to it, where nothing of the host can interfere.
	for _, name := range devNodes {
		if err := create(dev, name, false); err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
		node, err := unix.OpenTree(unix.AT_FDCWD, oldRoot+"/dev/"+name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("clone /dev/%s: %w", name, err)
		}
		err = unix.MoveMount(node, "", dev, name, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(node)
		if err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	if err := subMount(dev, "pts", "devpts",
		map[string]string{"newinstance": "", "ptmxmode": "0666", "mode": "0620"},
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC); err != nil {
		return err
	}
	if err := subMount(dev, "shm", "tmpfs", map[string]string{"mode": "1777"},
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
		return err
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return fmt.Errorf("link /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

func subMount(dir int, name, fstype string, opts map[string]string, attrs int) error {
	if err := unix.Mkdirat(dir, name, 0o755); err != nil {
		return fmt.Errorf("create /dev/%s: %w", name, err)
	}
	mnt, err := newFS(fstype, opts, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	if err := unix.MoveMount(mnt, "", dir, name, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach /dev/%s: %w", name, err)
	}
	return nil
}
