package userns

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memLayerDir is where init mounts the memory layer, in its base tmpfs (the
// root between the two pivots): outside both the host's tree and the new
// root, so the command reaches it only through the overlays.
const memLayerDir = "/layers"

// mountMemLayer mounts the tmpfs that holds the upper and work directories of
// an ephemeral run's overlays (bubblewrap's --tmp-overlay). Nothing of the run
// is written to the user's disk, nothing is left after a crash (the tmpfs goes
// with the mount namespace), and the mounts wait for no disk: an overlay with
// its upper on ext4 clears its work directory with a synchronous discard
// when mounted and flushes the disk when unmounted (issue 15).
//
// The kernel overlay keeps whiteouts and opaque directories in user.*
// xattrs here (userxattr), which tmpfs has from Linux 6.6; the parent plans a
// memory layer only there, and this checks it, since an overlay over a tmpfs
// without them mounts but fails later with EIO.
//
// Preconditions: after the first pivot_root (the base tmpfs is "/").
func mountMemLayer(size string) error {
	if err := os.Mkdir(memLayerDir, 0o700); err != nil {
		return fmt.Errorf("create the memory layer: %w", err)
	}
	mnt, err := newFS("tmpfs", tmpfsOpts("700", size), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("memory layer: %w", err)
	}
	defer unix.Close(mnt)
	if err := unix.MoveMount(mnt, "", unix.AT_FDCWD, memLayerDir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach the memory layer: %w", err)
	}
	err = unix.Setxattr(memLayerDir, "user.sandbox.probe", []byte("1"), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("tmpfs has no user xattrs on this kernel (Linux 6.6+ has): use --name NAME to keep the layers on disk")
	}
	if err != nil {
		return fmt.Errorf("memory layer: %w", err)
	}
	return unix.Removexattr(memLayerDir, "user.sandbox.probe")
}

// tmpfsOpts are a tmpfs's options: mode, and size when bounded (--tmp-size).
func tmpfsOpts(mode, size string) map[string]string {
	opts := map[string]string{"mode": mode}
	if size != "" {
		opts["size"] = size
	}
	return opts
}

// hasMem says whether the plan has an overlay in the memory layer.
func hasMem(mounts []Mount) bool {
	for _, m := range mounts {
		if m.Kind == Overlay && m.Mem {
			return true
		}
	}
	return false
}

// memUsage is what an ephemeral run has written so far: the memory layer's
// bytes and inodes in use, read through one of its overlays (an overlay's
// statfs is its upper layer's). dst is that overlay's mount point inside.
type memUsage struct {
	dst          string
	bytes, files int64
}

// measure reads the memory layer's use now.
func (u *memUsage) measure() (bytes, files int64, ok bool) {
	if u == nil || u.dst == "" {
		return 0, 0, false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(u.dst, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize, int64(st.Files - st.Ffree), true
}

// memLayerOf returns the usage meter of the plan's memory layer, or nil: it
// reads through the mount point of a memory overlay that no later step
// covers.
func memLayerOf(mounts []Mount) *memUsage {
	for i, m := range mounts {
		if m.Kind != Overlay || !m.Mem {
			continue
		}
		covered := false
		for _, later := range mounts[i+1:] {
			covered = covered || later.Dst == m.Dst
		}
		if !covered {
			return &memUsage{dst: m.Dst}
		}
	}
	return nil
}

// baseline records the use of the empty layers, once they are mounted.
func (u *memUsage) baseline() {
	if u != nil {
		u.bytes, u.files, _ = u.measure()
	}
}

// written returns what was written since the baseline.
func (u *memUsage) written() (bytes, files int64) {
	b, f, ok := u.measure()
	if !ok {
		return 0, 0
	}
	return max(b-u.bytes, 0), max(f-u.files, 0)
}

// filesDir holds the files of File steps, in init's base tmpfs.
const filesDir = "/files"

// fileMount writes m.Data to a file of init's own and binds it, read-only,
// at m.Dst inside the new root.
//
// Preconditions: after the first pivot_root (the base tmpfs is "/").
func fileMount(m Mount) error {
	if err := os.Mkdir(filesDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", filesDir, err)
	}
	f, err := os.CreateTemp(filesDir, "f-")
	if err != nil {
		return fmt.Errorf("file for %s: %w", m.Dst, err)
	}
	_, err = f.Write(m.Data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o444)
	}
	if err != nil {
		return fmt.Errorf("file for %s: %w", m.Dst, err)
	}
	node, err := unix.OpenTree(unix.AT_FDCWD, f.Name(), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("clone the file for %s: %w", m.Dst, err)
	}
	defer unix.Close(node)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(node, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("make the file for %s read-only: %w", m.Dst, err)
	}
	return attach(node, m.Dst, false)
}
