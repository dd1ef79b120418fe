package userns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mountOwnSysfs puts a sysfs of the sandbox's own network namespace on /sys,
// read-only, over the host's. sysfs shows the network devices of the
// namespace that mounted it: through the host's /sys, /sys/class/net listed
// the host's interfaces and their MAC addresses while `ip link` showed only
// lo (podman mounts its own sysfs the same way).
//
// The kernel allows the mount in a user namespace only while a sysfs it can
// see is fully visible (mount_too_revealing): the host's, still at /oldroot,
// is; so this comes before anything is mounted over the new one.
//
// Preconditions: in the sandbox's own network namespace; /newroot/sys exists.
func mountOwnSysfs() error {
	mnt, err := newFS("sysfs", nil,
		unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("sysfs of the sandbox's network namespace: %w", err)
	}
	defer unix.Close(mnt)
	return attach(mnt, "/sys", true)
}
