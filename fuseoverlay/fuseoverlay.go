// Package fuseoverlay mounts a copy-on-write directory with fuse-overlayfs, for
// where the kernel's overlayfs refuses (an old kernel, a lower filesystem it
// will not take, a lower with locked mounts below it such as /) or cannot serve
// (root inside writing files of IDs outside the map: fuse-overlayfs can present
// them as root's).
//
// Runs in the sandbox's init, in its mount namespace, before pivot_root.
package fuseoverlay

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"sandbox/layers"
)

// Options name the layers (paths inside Chroot) and the mount point.
type Options struct {
	Binary             string // fuse-overlayfs, a path inside Chroot
	Chroot             string // the host's tree as init sees it
	Lower, Upper, Work string
	Target             *os.File // the mount point, opened by the caller
	// Squash presents every lower file as owned by root inside
	// (squash_to_root), so root inside may modify them: the copy-up is
	// owned by the user on the host.
	Squash bool
}

// Mount runs fuse-overlayfs, which mounts and then forks its daemon into the
// background: when the command returns, the mount is there. The daemon lives in
// the sandbox's PID namespace and dies with it. It keeps init's capabilities,
// which is what stops the command (which has none) from ptracing it or reading
// its /proc/PID/root: the kernel refuses ptrace of a process with capabilities
// the tracer lacks (cap_ptrace_access_check).
func Mount(o Options) error {
	// Before the mount: diff and commit honour only the whiteout and opaque
	// markers of the engine that last mounted a layer (layers.Engine).
	if err := layers.RecordEngine(o.Chroot+o.Upper, layers.EngineFuse); err != nil {
		return err
	}
	// The layers by names relative to their common directory, the
	// daemon's working directory: its argv, which `ps` inside shows, then
	// names no path of the store (the user's name, the home directory).
	dir := filepath.Dir(o.Upper)
	work, err := filepath.Rel(dir, o.Work)
	if err != nil {
		work = o.Work
	}
	opts := []string{
		"lowerdir=" + escape(o.Lower), "upperdir=" + escape(filepath.Base(o.Upper)), "workdir=" + escape(work),
	}
	if o.Squash {
		opts = append(opts, "squash_to_root")
	}
	// The target reaches the daemon as fd 3; /proc/self/fd/3 names it in the
	// chroot, whose /proc is the host's.
	cmd := exec.Command(o.Binary, "-o", strings.Join(opts, ","), "/proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{o.Target}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: o.Chroot}
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	// Not os/exec's default /dev/null: it is opened in init's current root,
	// which has no /dev yet.
	null, err := os.Open(o.Chroot + "/dev/null")
	if err != nil {
		return fmt.Errorf("open /dev/null for fuse-overlayfs: %w", err)
	}
	defer null.Close()
	cmd.Stdin, cmd.Stdout = null, null
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run fuse-overlayfs: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// escape protects the option separators fuse-overlayfs splits on.
func escape(p string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`).Replace(p)
}
