package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"sandbox/fuseoverlay"
)

// overlay mounts a copy-on-write view of one host directory. The kernel
// refuses an overlay whose lower layer has mounts below it that the user
// namespace cannot reveal (lowerdir=/ fails: /proc, /sys, ... are locked), so
// the parent plans one kernel overlay per host directory without submounts,
// or one fuse-overlayfs (which reads its lower layer like any program) of /.
func overlay(m Mount, fuseBin string) error {
	if m.Fuse {
		return fuseMount(m, fuseBin)
	}
	if len(m.Lowers) > 0 {
		return imageOverlay(m)
	}
	// The upper and work directories by names relative to their common
	// directory, made init's working directory for the call: the options
	// in the command's /proc/self/mountinfo then name no path of the
	// store (the user's name, the home directory).
	base := oldRoot // the host's tree, where the store is
	if m.Mem {
		base = ""
		if err := makeMemDirs(m.Upper, m.Work); err != nil {
			return err
		}
	}
	if err := precreate(base+m.Upper, m.Precreate); err != nil {
		return err
	}
	dir, upper, work := relLayers(base+m.Upper, base+m.Work)
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("enter the layer directory: %w", err)
	}
	defer unix.Chdir("/") //nolint:errcheck // "/" of the base tmpfs, always there
	// userxattr: overlayfs keeps its metadata in user.overlay.* xattrs, the
	// only ones an unprivileged mounter may set (Linux 5.11+).
	mnt, err := newFS("overlay", map[string]string{
		"lowerdir": oldRoot + m.Src, "upperdir": upper, "workdir": work, "userxattr": "",
	}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		if m.FuseFallback && fuseBin != "" && !m.Mem {
			return fuseMount(m, fuseBin)
		}
		if m.Mem {
			// fuse-overlayfs runs chrooted in the host's tree and
			// cannot reach the memory layer.
			return fmt.Errorf("%w (try --name NAME, which keeps the layers on disk where fuse-overlayfs can take over, or --overlay fuse)", err)
		}
		return fmt.Errorf("%w (try --overlay fuse)", err)
	}
	defer unix.Close(mnt)
	return attach(mnt, m.Dst, true)
}

// fuseMount runs fuse-overlayfs chrooted into the host's tree (it is a dynamic
// binary: its libraries are there, not in our new root) onto the destination we
// resolved, handed to it as an fd.
func fuseMount(m Mount, bin string) error {
	if bin == "" {
		return errors.New("fuse-overlayfs not found; fix: apt install fuse-overlayfs")
	}
	var target *os.File
	if m.Dst == "/" {
		fd, err := unix.Open(newRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open new root: %w", err)
		}
		target = os.NewFile(uintptr(fd), newRoot)
	} else {
		fd, err := openBeneath(m.Dst, true)
		if err != nil {
			return err
		}
		target = os.NewFile(uintptr(fd), m.Dst)
	}
	defer target.Close()
	err := fuseoverlay.Mount(fuseoverlay.Options{
		Binary: bin, Chroot: oldRoot,
		Lower: m.Src, Upper: m.Upper, Work: m.Work, Squash: m.Squash,
		Target: target,
	})
	if err != nil || m.Dst != "/" || m.Src != "/" {
		return err
	}
	// The host's /sys stays a read-only bind, as under the kernel engine's
	// read-only "/": through fuse-overlayfs a write there was a copy-up of
	// a sysfs file, and writing transparent_hugepage/enabled left the
	// daemon spinning and the command in D state (issue 22).
	return bind(Mount{Kind: Bind, Src: "/sys", Dst: "/sys", ReadOnly: true})
}

// precreate makes the directories of Mount.Precreate in upper, each below
// one that exists (the parent planned them in that order). One made by an
// earlier run of a named sandbox is left as it is.
func precreate(upper string, dirs []Precreate) error {
	for _, d := range dirs {
		p := filepath.Join(upper, d.Rel)
		if err := os.Mkdir(p, 0o700); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return fmt.Errorf("prepare %s in the upper layer: %w", d.Rel, err)
		}
		if err := os.Chmod(p, os.FileMode(d.Mode&0o777)|modeBits(d.Mode)); err != nil {
			return fmt.Errorf("prepare %s in the upper layer: %w", d.Rel, err)
		}
	}
	return nil
}

// modeBits turns the setuid, setgid and sticky bits of a unix mode into Go's.
func modeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	return m
}

// makeMemDirs creates an overlay's upper and work directories in the memory
// layer.
func makeMemDirs(upper, work string) error {
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s in the memory layer: %w", d, err)
		}
	}
	return nil
}

// relLayers returns the directory holding upper, and upper and work
// relative to it.
func relLayers(upper, work string) (dir, relUpper, relWork string) {
	dir = filepath.Dir(upper)
	relWork, err := filepath.Rel(dir, work)
	if err != nil {
		relWork = work
	}
	return dir, filepath.Base(upper), relWork
}

// hide covers a secret: a directory gets an empty read-only tmpfs, anything
// else /dev/null, so the path still exists but shows nothing.
func hide(m Mount) error {
	st, err := os.Lstat(oldRoot + m.Src)
	if err != nil {
		return nil // nothing there to hide
	}
	if st.IsDir() {
		return attachNew("tmpfs", map[string]string{"mode": "700"},
			unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, m.Dst)
	}
	null, err := unix.OpenTree(unix.AT_FDCWD, oldRoot+"/dev/null", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("clone /dev/null: %w", err)
	}
	defer unix.Close(null)
	return attach(null, m.Dst, false)
}
