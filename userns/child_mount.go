package userns

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Where init builds the new root. Base is a tmpfs mounted over /tmp in our own
// mount namespace only; after the first pivot_root the host's tree is at
// /oldroot and the sandbox's root is assembled at /newroot (bubblewrap's scheme).
const (
	baseDir = "/tmp"
	newRoot = "/newroot"
	oldRoot = "/oldroot"
)

// setupRoot runs the mount plan and enters the new root, leaving init in its
// "/". With cfg.CgroupScope it returns an O_PATH handle on the host's root
// (else -1): the cgroup that will hold init is reached through it after
// pivot_root, and enterCgroup closes it before the command's working
// directory is resolved.
//
// Preconditions: in the new mount namespace with CAP_SYS_ADMIN there; ID maps
// written (files created on a tmpfs need a mapped owner).
func setupRoot(cfg *Config, log *slog.Logger) (host int, err error) {
	host = -1
	if id := cfg.BuildFsID; id != nil {
		err = buildAs(*id, func() error { return buildRoot(cfg, log, &host) })
	} else {
		err = buildRoot(cfg, log, &host)
	}
	if err != nil && host >= 0 {
		unix.Close(host)
		host = -1
	}
	return host, err
}

// buildAs runs build on a thread of its own that creates files as id
// (fsuid and fsgid, inside). Init's own IDs are unmapped in its user
// namespace when the config's maps leave out the runtime's (runc allows
// that, and runtime-tools tests it): the kernel then refuses every file
// init creates in the sandbox's own filesystems (the base tmpfs, /dev) with
// EOVERFLOW. The host paths the build reads (bind sources) must then be
// reachable by that ID, as with runc, whose init becomes root of the
// namespace (nsexec's setresuid(0, 0, 0)). Only this thread changes: init
// keeps its own IDs, which own the host's runtime state and cgroup. The
// thread ends with build, since an unmapped ID cannot be set back.
func buildAs(id [2]uint32, build func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with the goroutine. It shares
		// init's mount namespace, root and working directory (Go threads
		// share the fs struct), so build's mounts and pivot_root are init's.
		runtime.LockOSThread()
		// setfsuid reports no error: the value is read back to check.
		_, _ = unix.SetfsuidRetUid(int(id[0]))
		_, _ = unix.SetfsgidRetGid(int(id[1]))
		u, _ := unix.SetfsuidRetUid(-1)
		g, _ := unix.SetfsgidRetGid(-1)
		if u != int(id[0]) || g != int(id[1]) {
			done <- fmt.Errorf("create files as %d:%d: setfsuid/setfsgid refused (%d:%d)", id[0], id[1], u, g)
			return
		}
		done <- build()
	}()
	return <-done
}

func buildRoot(cfg *Config, log *slog.Logger, host *int) error {
	// Private first: nothing we mount may propagate back to the host's
	// namespace, and nothing the host mounts later appears inside.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("tmpfs", baseDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount base tmpfs on %s: %w", baseDir, err)
	}
	for _, d := range []string{newRoot, oldRoot} {
		if err := os.Mkdir(baseDir+d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := pivot(baseDir, baseDir+oldRoot); err != nil {
		return err
	}
	if hasMem(cfg.Mounts) {
		if err := mountMemLayer(cfg.TmpSize); err != nil {
			return err
		}
	}
	for _, m := range cfg.Mounts {
		log.Debug("mount", "step", m.String())
		if err := apply(m, cfg); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	if cfg.NetLo {
		if err := mountOwnSysfs(); err != nil {
			return err
		}
	}
	if !cfg.NoMask {
		if err := maskKernelFiles(); err != nil {
			return err
		}
	}
	if cfg.ReadOnlyRoot {
		// Last: the plan's mount points were created in it first.
		if err := readOnlyRoot(); err != nil {
			return err
		}
	}
	if cfg.CgroupScope {
		fd, err := unix.Open(oldRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open host root for the cgroup: %w", err)
		}
		*host = fd
	}
	// The second pivot stacks the old root (base tmpfs with /oldroot) on top of
	// the new one; detaching it drops every host mount not in the plan.
	if err := pivot(newRoot, "."); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	// The command's working directory is entered later (enterWorkDir), once
	// the host handle above is closed: never while init holds a way out.
	return nil
}

func pivot(root, putOld string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	if putOld != "." {
		putOld = strings.TrimPrefix(putOld, root+"/")
	}
	if err := unix.PivotRoot(".", putOld); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	return unix.Chdir("/")
}

// apply runs one mount step with the new mount API: the source is cloned or
// created detached, then attached to a destination opened beneath /newroot, so a
// symlink in the destination's path cannot lead the mount outside the new root.
func apply(m Mount, cfg *Config) error {
	if m.Optional && m.Src != "" {
		if _, err := os.Lstat(oldRoot + m.Src); err != nil {
			return nil
		}
	}
	switch m.Kind {
	case Bind:
		return bind(m)
	case Tmpfs:
		return attachNew("tmpfs", withSource(tmpfsOpts(fmt.Sprintf("%o", m.Mode), cfg.TmpSize), m.Source),
			unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, m.Dst)
	case Proc:
		return attachNew("proc", withSource(nil, m.Source), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, m.Dst)
	case Dev:
		return makeDev(m, cfg.TmpSize)
	case Overlay:
		return overlay(m, cfg.FuseOverlayfs)
	case Hide:
		return hide(m)
	case Rebind:
		return rebind(m)
	case File:
		return fileMount(m)
	case Mqueue:
		return attachNew("mqueue", withSource(nil, m.Source), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, m.Dst)
	case Sysfs:
		return sysfs(m)
	case Mask:
		return mask(m.Dst)
	}
	return fmt.Errorf("unknown mount kind %q", m.Kind)
}

func bind(m Mount) error {
	src := filepath.Join(oldRoot, m.Src)
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("clone %s: %w", m.Src, err)
	}
	defer unix.Close(tree)
	if m.ReadOnly {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("make read-only: %w", err)
		}
	}
	return attach(tree, m.Dst, st.IsDir())
}

// withSource adds a new filesystem's source label to its options: fsconfig's
// "source" key, which the VFS takes for every filesystem. runtime-tools'
// runtimetest finds an OCI mount in mountinfo by destination, type and
// source.
func withSource(opts map[string]string, src string) map[string]string {
	if src == "" {
		return opts
	}
	if opts == nil {
		opts = map[string]string{}
	}
	opts["source"] = src
	return opts
}

// attachNew creates a filesystem detached and attaches it at dst.
func attachNew(fstype string, opts map[string]string, attrs int, dst string) error {
	mnt, err := newFS(fstype, opts, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	return attach(mnt, dst, true)
}

func newFS(fstype string, opts map[string]string, attrs int) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", fstype, err)
	}
	defer unix.Close(fs)
	for k, v := range opts {
		if v == "" {
			err = unix.FsconfigSetFlag(fs, k)
		} else {
			err = unix.FsconfigSetString(fs, k, v)
		}
		if err != nil {
			return -1, fmt.Errorf("set %s option %s: %w", fstype, k, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("create %s: %w", fstype, err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	return mnt, nil
}

// attach moves the detached mount mnt onto dst inside the new root, creating
// the mount point (a directory, or an empty file for a file bind) if needed.
func attach(mnt int, dst string, dir bool) error {
	target, err := openBeneath(dst, dir)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := unix.MoveMount(mnt, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach at %s: %w", dst, err)
	}
	return nil
}

// openBeneath opens path inside /newroot, resolving symlinks as if /newroot were
// the root (RESOLVE_IN_ROOT), and creates what is missing of it.
func openBeneath(path string, dir bool) (int, error) {
	return openCreate(newRoot, path, dir)
}

// openInRoot opens an existing path below root, resolved as if root were "/".
func openInRoot(root, path string) (int, error) {
	r, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(r)
	fd, err := unix.Openat2(r, path, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

func openCreate(rootPath, path string, dir bool) (int, error) {
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open new root: %w", err)
	}
	defer unix.Close(root)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if fd, err := unix.Openat2(root, path, how); err == nil || !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return -1, fmt.Errorf("open mount point %s: %w", path, err)
		}
		return fd, nil
	}
	// Walk down, creating each missing component below the deepest one that exists.
	parts := strings.Split(strings.Trim(path, "/"), "/")
	parent, err := unix.Dup(root)
	if err != nil {
		return -1, err
	}
	for i, name := range parts {
		last := i == len(parts)-1
		fd, err := unix.Openat2(root, strings.Join(parts[:i+1], "/"), how)
		if errors.Is(err, unix.ENOENT) {
			err = create(parent, name, dir || !last)
			if err == nil {
				fd, err = unix.Openat2(root, strings.Join(parts[:i+1], "/"), how)
			}
		}
		unix.Close(parent)
		if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("create mount point %s: %w (its parent cannot be written inside: "+
				"choose an existing DEST, or one under a --tmpfs or a writable bind)", path, err)
		}
		if err != nil {
			return -1, fmt.Errorf("create mount point %s: %w", path, err)
		}
		parent = fd
	}
	return parent, nil
}

func create(dirfd int, name string, dir bool) error {
	if dir {
		return unix.Mkdirat(dirfd, name, 0o755)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
