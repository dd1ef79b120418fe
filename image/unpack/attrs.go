package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// owner is the entry's owner, or 0:0 when the namespace lacks it.
func (u *unpacker) owner(hdr *tar.Header) (int, int) {
	if u.ids != nil && !u.ids.Mapped(hdr.Uid, hdr.Gid) {
		u.st.Unmapped++
		return 0, 0
	}
	return hdr.Uid, hdr.Gid
}

// attrs sets owner, mode (setuid bits after the chown, which clears them) and
// xattrs through an open fd; a directory's times wait for dirTimes.
func (u *unpacker) attrs(fd int, hdr *tar.Header) error {
	uid, gid := u.owner(hdr)
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if hdr.Typeflag == tar.TypeDir {
		u.dirs = append(u.dirs, hdr)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		// Only user.* xattrs can be set in a user namespace, and the
		// overlay's own (opaque, redirect, origin) come from whiteouts
		// alone: an image must not forge them. File capabilities
		// (security.capability) are dropped too: the command runs with
		// no_new_privs.
		if !strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "user.overlay.") {
			u.st.Dropped++
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// attrsAt sets owner, mode and times of a node that cannot be opened (a FIFO
// would block).
func (u *unpacker) attrsAt(pfd int, base string, hdr *tar.Header) error {
	uid, gid := u.owner(hdr)
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return setTimes(pfd, base, hdr)
}

func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}

func setTimes(pfd int, base string, hdr *tar.Header) error {
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// dirTimes sets the directories' times once nothing more is written in them.
func (u *unpacker) dirTimes() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		p, _ := clean(u.dirs[i].Name)
		if p == "." {
			ts := times(u.dirs[i])
			if err := unix.UtimesNanoAt(u.root, ".", ts[:], 0); err != nil {
				return fmt.Errorf("set times of the root: %w", err)
			}
			continue
		}
		dir, base := path.Split(p)
		pfd, err := u.parent(dir)
		if err != nil {
			return err
		}
		err = setTimes(pfd, base, u.dirs[i])
		unix.Close(pfd)
		if err != nil {
			return err
		}
	}
	return nil
}

func unlink(pfd int, name string, flags int) error {
	if err := unix.Unlinkat(pfd, name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// removeTree removes directory name below pfd and all it holds, by handles.
func removeTree(pfd int, name string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	names, err := readNames(fd)
	if err != nil {
		unix.Close(fd)
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = removeTree(fd, n)
		} else {
			err = unlink(fd, n, 0)
		}
		if err != nil {
			unix.Close(fd)
			return err
		}
	}
	unix.Close(fd)
	return unlink(pfd, name, unix.AT_REMOVEDIR)
}

func readNames(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("read directory: %w", err)
		}
		if n == 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// fdWriter writes to a raw descriptor.
type fdWriter int

func (f fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(f), b[n:])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return n, err
		}
		n += m
	}
	return n, nil
}
