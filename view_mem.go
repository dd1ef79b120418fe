package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// defaultTmpSize bounds each tmpfs of a run (/tmp, /dev/shm, --tmpfs, the
// memory layer), as a tmpfs mounted without size= is bounded: half the RAM.
const defaultTmpSize = "50%"

// tmpSize is --tmp-size as a tmpfs size= value, or an error naming the flag.
func (v *ViewFlags) tmpSize() (string, error) {
	s := strings.TrimSpace(v.TmpSize)
	if s == "" {
		return defaultTmpSize, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n <= 100 {
			return s, nil
		}
		return "", fmt.Errorf("--tmp-size %s: want a percentage of RAM from 1%% to 100%%, or a size (512M, 2G)", v.TmpSize)
	}
	n, err := systemdcgroup.ParseSize(s)
	if err != nil || n == 0 {
		return "", fmt.Errorf("--tmp-size %s: want a size (512M, 2G) or a percentage of RAM (25%%)", v.TmpSize)
	}
	return strconv.FormatUint(n, 10), nil
}

// memLayerOK says whether an ephemeral run may keep its upper layers in
// memory: the kernel overlay takes a tmpfs upper in a user namespace once
// tmpfs has user xattrs (Linux 6.6). Below that the layers stay on disk,
// and --verbose says why.
func memLayerOK(log *slog.Logger) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	if kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 6) {
		return true
	}
	log.Debug("layers on disk: tmpfs has no user xattrs before Linux 6.6", "kernel", unix.ByteSliceToString(u.Release[:]))
	return false
}

// kernelAtLeast compares a uname release ("6.1.0-18-cloud-amd64") with
// major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(release, "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || (a == major && b >= minor)
}

// memMounts plans the kernel overlays of an ephemeral run in the memory
// layer: no slot of the store is taken, nothing is written to disk.
func memMounts(dirs []string) []userns.Mount {
	mounts := []userns.Mount{{Kind: userns.Bind, Src: "/", Dst: "/", ReadOnly: true}}
	for i, dir := range dirs {
		base := fmt.Sprintf("/layers/%d", i)
		mounts = append(mounts, userns.Mount{Kind: userns.Overlay, Src: dir, Dst: dir,
			Upper: base + "/upper", Work: base + "/work", Mem: true})
	}
	return mounts
}

// finishView sets what init needs of the view beyond the mounts: the size
// of its tmpfs, and whether the parent may leave without waiting for the
// namespace's teardown, which only a run with nothing of it on disk and no
// use for init's rusage (--stats, --report) or the scope allows.
func (r *RunCmd) finishView(c *userns.Config, v *view, scope bool) error {
	size, err := r.tmpSize()
	if err != nil {
		return err
	}
	c.TmpSize = size
	c.NoWait = v.mem && !scope && !r.Stats && r.Report == ""
	return nil
}

// noteDiscarded says, once, what an ephemeral run wrote outside the
// writable binds, which went with it (issue 19: `go install` and Go's build
// cache vanished without a word).
func (v *view) noteDiscarded(res userns.Result, quiet bool) {
	if quiet || v == nil || !v.mem || res.DiscardedFiles == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "sandbox: note: discarded %s in %d files and directories written outside the current directory; keep them with --name NAME, or bind a directory with --rw (--quiet hides this)\n",
		human(uint64(res.Discarded)), res.DiscardedFiles)
}
