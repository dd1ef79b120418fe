package userns

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// leafName is the cgroup below the scope that holds the sandbox's processes:
// cgroup v2 lets a cgroup with processes enable no controller for its children
// ("no internal processes"), so the scope itself stays empty.
const leafName = "sandbox"

// enterCgroup moves init into a leaf below the cgroup dir (a host path, reached
// through the host-root handle host; empty when there is no cgroup), enables the
// scope's delegated controllers for it, and gives the sandbox a cgroup namespace
// rooted where init now is: inside, /proc/self/cgroup says "0::/" and, with a
// scope, /sys/fs/cgroup shows only the sandbox's own tree.
//
// Preconditions: OS thread locked (the namespace is the thread's); after
// pivot_root.
func enterCgroup(host int, dir string, writable, joined bool) error {
	if host >= 0 {
		defer unix.Close(host)
	}
	if dir != "" {
		if host < 0 {
			return fmt.Errorf("no handle on the host's cgroup tree")
		}
		if err := moveToLeaf(host, dir); err != nil {
			return err
		}
	}
	if joined {
		// Cloned into the config's cgroup namespace (nsjoin.go): its root
		// stays where its owner put it, and its cgroup2 is not ours to
		// mount.
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("create cgroup namespace: %w", err)
	}
	if dir == "" {
		return nil
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if !writable {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	mnt, err := newFS("cgroup2", nil, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	target, err := openInRoot("/", "/sys/fs/cgroup")
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := unix.MoveMount(mnt, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount cgroup2 on /sys/fs/cgroup: %w", err)
	}
	return nil
}

func moveToLeaf(host int, dir string) error {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS}
	scope, err := unix.Openat2(host, dir, how)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(scope)
	if err := unix.Mkdirat(scope, leafName, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create cgroup %s/%s: %w", dir, leafName, err)
	}
	// "0" moves the writer: init, and so everything it starts.
	if err := writeAt(scope, leafName+"/cgroup.procs", "0"); err != nil {
		return fmt.Errorf("move init into %s/%s: %w", dir, leafName, err)
	}
	// Best effort: the scope's limits hold for the whole subtree either way;
	// enabling the controllers below lets the sandbox read and divide them.
	if ctrl, err := readAt(scope, "cgroup.controllers"); err == nil && strings.TrimSpace(ctrl) != "" {
		var enable []string
		for _, c := range strings.Fields(ctrl) {
			enable = append(enable, "+"+c)
		}
		_ = writeAt(scope, "cgroup.subtree_control", strings.Join(enable, " "))
	}
	return nil
}

func writeAt(dir int, name, data string) error {
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(data))
	return err
}

func readAt(dir int, name string) (string, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
