package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

// finished records that the command ran (a sandbox named for --cow is then
// kept), and says, once, what an ephemeral run wrote outside the writable
// binds, which went with it (issue 19: `go install` and Go's build cache
// vanished without a word).
func (v *view) finished(res userns.Result, quiet bool) {
	if v == nil {
		return
	}
	v.ran = true
	if quiet || !v.mem || res.DiscardedFiles == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "sandbox: note: discarded %s in %d files and directories written outside the current directory; keep them with --name NAME, or bind a directory with --rw (--quiet hides this)\n",
		human(uint64(res.Discarded)), res.DiscardedFiles)
}

// wellKnownWritable are directories every user may write on a usual host,
// owned by root, one level below a directory that gets an overlay.
var wellKnownWritable = []string{"/var/tmp", "/var/crash"}

// addPrecreates plans, for each kernel overlay, the directories of
// Mount.Precreate: along the path to each of wellKnownWritable and to cwd,
// every directory the user may write on the host but does not own (root's
// /var/tmp). The walk stops at the first directory the user may not write:
// below it the command could not write on the host either, and making it
// in the upper layer would give it the user as owner (issue 21).
func addPrecreates(plan []userns.Mount, cwd string) {
	uid := uint32(os.Getuid())
	for i := range plan {
		m := &plan[i]
		if m.Kind != userns.Overlay || m.Fuse || len(m.Lowers) > 0 {
			continue
		}
		for _, p := range append(wellKnownWritable, cwd) {
			rel, err := filepath.Rel(m.Src, p)
			if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
				continue
			}
			m.Precreate = appendPrecreates(m.Precreate, m.Src, rel, uid)
		}
	}
}

// appendPrecreates walks rel below src, one component at a time.
func appendPrecreates(pre []userns.Precreate, src, rel string, uid uint32) []userns.Precreate {
	parts := strings.Split(rel, "/")
	for k := range parts {
		r := strings.Join(parts[:k+1], "/")
		host := filepath.Join(src, r)
		var st unix.Stat_t
		if unix.Lstat(host, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return pre
		}
		if st.Uid == uid {
			continue // copied up with its owner, who is mapped
		}
		if unix.Access(host, unix.W_OK|unix.X_OK) != nil {
			return pre
		}
		if !slices.ContainsFunc(pre, func(p userns.Precreate) bool { return p.Rel == r }) {
			pre = append(pre, userns.Precreate{Rel: r, Mode: st.Mode & 0o7777})
		}
	}
	return pre
}

// cwdOverlay is, for a current directory that is to be copy-on-write (--cow,
// a home) but lies in no overlay of the plan (under /tmp or /run, which are
// fresh inside, or a directory left read-only), an overlay of its own, so
// the command starts there and sees it (issue 19: --cow under /tmp failed
// with a bare "no such file or directory").
func (r *RunCmd) cwdOverlay(v *view, plan []userns.Mount, cwd string) (userns.Mount, bool, error) {
	for _, m := range plan {
		if m.Kind == userns.Overlay && (m.Dst == "/" || cwd == m.Dst || strings.HasPrefix(cwd, m.Dst+"/")) {
			return userns.Mount{}, false, nil
		}
	}
	m := userns.Mount{Kind: userns.Overlay, Src: cwd, Dst: cwd}
	if v.mem {
		m.Upper, m.Work, m.Mem = "/layers/cwd/upper", "/layers/cwd/work", true
		return m, true, nil
	}
	if v.sb == nil {
		return userns.Mount{}, false, nil
	}
	upper, work, err := v.sb.Layer(cwd)
	if err != nil {
		return userns.Mount{}, false, err
	}
	m.Upper, m.Work = upper, work
	return m, true, nil
}
