package userns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// maskedFiles and maskedDirs are the kernel's files a sandbox has no need
// for and that tell the command about the host: covered with /dev/null, or
// an empty read-only tmpfs, as runc's default maskedPaths do. Each says why.
var (
	maskedFiles = []string{
		"/proc/cmdline",       // the host's boot line (root device, options)
		"/proc/keys",          // the caller's kernel keys, by description
		"/proc/kcore",         // the host's memory, as an ELF core
		"/proc/timer_list",    // every host task with a timer, by name and PID
		"/proc/sched_debug",   // every host task on each run queue, by name
		"/proc/latency_stats", // host-wide latency records
		"/proc/timer_stats",   // the same, older kernels
	}
	maskedDirs = []string{
		"/proc/acpi", "/proc/asound", "/proc/scsi", // host hardware
		"/sys/firmware",                 // ACPI tables, EFI variables
		"/sys/devices/virtual/powercap", // RAPL energy counters: a side channel
	}
)

// maskKernelFiles covers maskedFiles and maskedDirs inside the new root. A
// path the kernel does not have (a config option off, a --rootfs with an empty
// /sys) is skipped.
//
// Not with --allow-nested: the kernel lets a nested namespace mount a new
// proc or sysfs only when the one it can see is fully visible, with nothing
// mounted over it (mount_too_revealing), and bubblewrap or `unshare
// --mount-proc` inside need that.
//
// Preconditions: /proc is the sandbox's own, /sys in place, /oldroot/dev/null
// reachable.
func maskKernelFiles() error {
	for _, p := range maskedFiles {
		if err := maskWith(p, func(target int) error {
			// Each target gets its own clone, from the path: a detached
			// mount attaches once, and Linux before 6.x refuses to clone
			// a detached clone again (EINVAL).
			c, err := unix.OpenTree(unix.AT_FDCWD, oldRoot+"/dev/null", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				return err
			}
			defer unix.Close(c)
			return unix.MoveMount(c, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		}); err != nil {
			return err
		}
	}
	for _, p := range maskedDirs {
		if err := maskWith(p, func(target int) error {
			mnt, err := newFS("tmpfs", map[string]string{"mode": "555"},
				unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
			if err != nil {
				return err
			}
			defer unix.Close(mnt)
			return unix.MoveMount(mnt, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		}); err != nil {
			return err
		}
	}
	return nil
}

// maskWith opens p below the new root, if it exists, and covers it with cover.
func maskWith(p string, cover func(target int) error) error {
	target, err := openInRoot(newRoot, p)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	defer unix.Close(target)
	if err := cover(target); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}
