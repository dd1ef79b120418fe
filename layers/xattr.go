package layers

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNoUserXattrs says a filesystem keeps no user.* extended attributes.
var ErrNoUserXattrs = errors.New("no user xattrs")

// CheckUserXattrs tries a user.* xattr on dir. The kernel overlay keeps its
// whiteouts and opaque directories in user.overlay.* xattrs of the upper
// layer (userxattr): over a filesystem without them (tmpfs before Linux 6.6,
// ramfs) it still mounts, and then `rm -rf` or `mv` of a lower directory
// fails inside with EIO (issue 21).
func CheckUserXattrs(dir string) error {
	const name = "user.sandbox.probe"
	err := unix.Setxattr(dir, name, []byte("1"), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%s: %w (tmpfs before Linux 6.6, ramfs)", dir, ErrNoUserXattrs)
	}
	if err != nil {
		return fmt.Errorf("try a user xattr on %s: %w", dir, err)
	}
	_ = unix.Removexattr(dir, name)
	return nil
}
