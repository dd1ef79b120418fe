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
	"strconv"
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
	// Squash presents the lower files of IDs outside the sandbox's map
	// (the host's root, other users) as owned by root inside, so root
	// inside may modify them. See ownerOptions.
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
		// The host's /proc, in the chroot: init's own root has none yet.
		opts = append(opts, ownerOptions(readMapSize(o.Chroot+"/proc/self/uid_map"), readMapSize(o.Chroot+"/proc/self/gid_map"))...)
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

// ownerOptions are the options that present unmapped owners as root. With one
// ID inside (no sub-IDs) that is squash_to_root: everything reads as root's,
// and a chown to another ID fails (EINVAL: the kernel has no such ID), never
// silently. With nu (ng) IDs 0..n-1 mapped, squash_to_root would still answer
// a chown with success and keep showing root (issue 19), so instead a
// mapping: the overflow ID 65534, which is how an unmapped owner reaches the
// daemon, reads as root; every mapped ID reads and is written as itself, so
// a chown is real (the file belongs to that sub-ID on the host). A file that
// truly belongs to 65534 inside reads as root's too: the daemon cannot tell
// the two apart.
//
// fuse-overlayfs takes HOST:SHOWN:COUNT triples, disk ID first, and tries
// them in the reverse of the order given: 0:0:1 must come before 65534:0:1,
// or a file root creates would be written as 65534.
func ownerOptions(nu, ng uint32) []string {
	if nu <= 1 || ng <= 1 {
		return []string{"squash_to_root"}
	}
	return []string{"uidmapping=" + idMapping(nu), "gidmapping=" + idMapping(ng)}
}

const overflowID = 65534 // /proc/sys/kernel/overflowuid, the kernel's default

func idMapping(n uint32) string {
	// Written last-tried first: 65534 -> 0, then 0 -> 0, then the rest.
	m := []string{fmt.Sprintf("%d:0:1", overflowID), "0:0:1"}
	if n > 1 {
		m = append(m, fmt.Sprintf("1:1:%d", min(n, overflowID)-1))
	}
	if n > overflowID+1 {
		m = append(m, fmt.Sprintf("%d:%d:%d", overflowID+1, overflowID+1, n-overflowID-1))
	}
	return strings.Join(m, ":")
}

// readMapSize returns how many IDs from 0 up are mapped without a gap in a
// /proc/PID/[ug]id_map (0 if unreadable).
func readMapSize(path string) uint32 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	type rng struct{ in, n uint64 }
	var rs []rng
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil {
			rs = append(rs, rng{in, n})
		}
	}
	end := uint64(0)
	for grew := true; grew; {
		grew = false
		for _, r := range rs {
			if r.in <= end && r.in+r.n > end {
				end, grew = r.in+r.n, true
			}
		}
	}
	return uint32(min(end, 1<<32-1))
}
