package userns

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// devNodes are bound from the host's /dev: a user namespace cannot mknod, and a
// bind keeps the host mount's permission to open devices.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// makeDev builds a minimal /dev at m.Dst: a tmpfs holding the device nodes
// above, a new devpts instance (so the sandbox cannot reach the host's ptys),
// /dev/shm and the usual symlinks.
func makeDev(m Mount, shmSize string) error {
	dev, err := newFS("tmpfs", withSource(map[string]string{"mode": "755"}, m.Source), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := attach(dev, m.Dst, true); err != nil {
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
		withSource(map[string]string{"newinstance": "", "ptmxmode": "0666", "mode": "0620"}, m.PtsSource),
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC); err != nil {
		return err
	}
	if err := subMount(dev, "shm", "tmpfs", tmpfsOpts("1777", shmSize),
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
		return err
	}
	if err := bindConsole(dev); err != nil {
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

// bindConsole binds the terminal the command inherits, if any, at
// /dev/console (as bubblewrap does). The terminal is a pty of the host's
// devpts, which the sandbox's new devpts does not show, so `tty`, ssh's and
// gpg's prompts found no name for it ("not a tty"); ttyname(3) finds it as
// /dev/console. The command holds the terminal already; the bind adds only
// a name.
//
// The descriptor's own mount belongs to the parent's mount namespace, which
// open_tree refuses to clone; the same terminal is reached by its path in
// our copy of the host's tree (the link names it as the host sees it),
// checked to be the same device and inode. A terminal with no such path
// (one from another devpts) gets no name.
//
// Preconditions: after the first pivot_root (the host's tree at /oldroot,
// its /proc showing init's descriptors).
func bindConsole(dev int) error {
	var path string
	for _, fd := range []int{0, 1, 2} {
		if p, ok := terminalPath(fd); ok {
			path = p
			break
		}
	}
	if path == "" {
		return nil
	}
	node, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return nil // no name, as before; the terminal itself still works
	}
	defer unix.Close(node)
	if err := create(dev, "console", false); err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	if err := unix.MoveMount(node, "", dev, "console", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind the terminal at /dev/console: %w", err)
	}
	return nil
}

// terminalPath returns the path below /oldroot/dev of the terminal open on fd,
// if fd is a terminal and the path leads to that very device.
func terminalPath(fd int) (string, bool) {
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return "", false
	}
	link, err := os.Readlink(fmt.Sprintf("%s/proc/self/fd/%d", oldRoot, fd))
	if err != nil || !strings.HasPrefix(link, "/dev/") {
		return "", false
	}
	p := oldRoot + link
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstatat(unix.AT_FDCWD, p, &b, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return "", false
	}
	if a.Mode&unix.S_IFMT != unix.S_IFCHR || b.Mode&unix.S_IFMT != unix.S_IFCHR || a.Rdev != b.Rdev || a.Ino != b.Ino || a.Dev != b.Dev {
		return "", false
	}
	return p, true
}
