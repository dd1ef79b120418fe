package userns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// newPty makes a pty of the container's own devpts (the new instance the
// plan mounts on /dev/pts; userns/child_dev.go), for a process.terminal of
// sandbox-runc's. The slave belongs to uid and gid, the process's, so it
// may reopen /dev/tty. Both descriptors are close-on-exec.
//
// The path is the container's, resolved inside its root only and without
// symlinks: the root is the image's, and a link there could lead to a pty
// of somewhere else (the host's devpts is not mounted inside, but the rule
// costs nothing).
func newPty(uid, gid uint32) (master, slave int, err error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open the container's root: %w", err)
	}
	defer unix.Close(root)
	master, err = unix.Openat2(root, "/dev/pts/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, -1, fmt.Errorf("terminal: open the container's /dev/pts/ptmx (a devpts mount on /dev/pts is needed): %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("terminal: unlock the pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master's own devpts, not by
	// a path that something inside could have changed (Linux 4.13).
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(master)
		return -1, -1, fmt.Errorf("terminal: open the pty's slave: %w", errno)
	}
	slave = int(fd)
	err = unix.Fchown(slave, int(uid), int(gid))
	if err == nil {
		err = unix.Fchmod(slave, 0o620)
	}
	if err != nil {
		unix.Close(master)
		unix.Close(slave)
		return -1, -1, fmt.Errorf("terminal: give the pty to %d:%d: %w", uid, gid, err)
	}
	return master, slave, nil
}

// ownTerminal makes the pty's slave init's descriptors 0-2, which the
// command inherits; the command, in a session of its own, makes it its
// controlling terminal (procAttr). Not init's: init leads a process group,
// so it cannot start a session.
func ownTerminal(slave int) error {
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("terminal: make the pty descriptor %d: %w", fd, err)
		}
	}
	return nil
}

// isTerminal says whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
