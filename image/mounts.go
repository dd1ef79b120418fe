package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountPoints are what every image run mounts over (userns.BasePlan, /sys,
// the resolv.conf of --net user): a directory, or a file when it ends in
// resolv.conf. The last one is made last, so its presence says all are.
var mountPoints = [...]string{"dev", "proc", "run", "sys", "tmp", "etc", "etc/resolv.conf"}

// MountPoints returns STORE/.images/mounts, the bottom lower layer of every
// image run: empty mount points, so that an image lacking /proc or /tmp gets
// them from here, not as new directories in the run's upper layer (which
// diff would list as the command's). An image's own win: it is above. Made
// once, in tmp/mounts-RANDOM (held by a flock on it, so a sweep leaves it
// alone) and renamed into place; a racing maker's copy is dropped.
func (s Store) MountPoints() (string, error) {
	dir := filepath.Join(s.Dir, "mounts")
	if _, err := os.Lstat(filepath.Join(dir, mountPoints[len(mountPoints)-1])); err == nil {
		return dir, nil
	}
	tmp := filepath.Join(s.Dir, "tmp", "mounts-"+randomHex())
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("make the image mount points: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	fd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		err = unix.Flock(fd, unix.LOCK_EX)
	}
	if err != nil {
		return "", fmt.Errorf("make the image mount points: %w", &os.SyscallError{Syscall: "flock", Err: err})
	}
	if err := unix.Fchmod(fd, 0o755); err != nil { // MkdirAll's mode went through the umask
		return "", fmt.Errorf("make the image mount points: %w", &os.SyscallError{Syscall: "fchmod", Err: err})
	}
	for _, m := range mountPoints {
		p, mode := filepath.Join(tmp, m), fs.FileMode(0o755)
		if filepath.Base(m) == "resolv.conf" {
			mode = 0o644
			err = os.WriteFile(p, nil, mode)
		} else {
			err = os.Mkdir(p, mode)
		}
		if err == nil {
			err = os.Chmod(p, mode) // past the umask: the image's users look through them
		}
		if err != nil {
			return "", fmt.Errorf("make the image mount points: %w", err)
		}
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("make the image mount points: %w", &os.SyscallError{Syscall: "renameat2", Err: err})
	}
	return dir, nil
}
