package idmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Apply writes the uid_map and gid_map of process pid with the newuidmap and
// newgidmap helpers at the given paths. A failure is a *HelperError per helper
// (joined when both fail) that quotes the helper's stderr and names the fix.
//
// Preconditions: pid is in a user namespace the caller created and whose maps
// are still unwritten.
func Apply(ctx context.Context, newuidmap, newgidmap string, pid int, uidMap, gidMap []Mapping) error {
	if len(uidMap) == 0 || len(gidMap) == 0 {
		return errors.New("write ID maps: empty map")
	}
	uid := helper{kind: "uid", path: newuidmap, own: uint32(os.Getuid())}
	gid := helper{kind: "gid", path: newgidmap, own: uint32(os.Getgid())}
	// Both helpers start before either is waited for: each costs ~5 ms of
	// setuid exec, start-up time is a feature, and they write different files.
	u := uid.start(ctx, pid, uidMap)
	g := gid.start(ctx, pid, gidMap)
	return errors.Join(u.wait(), g.wait())
}

// HelperError is a failed run of newuidmap or newgidmap.
type HelperError struct {
	Path   string // the helper
	Stderr string // its stderr, trimmed to one line
	Fix    string // what the user can do about it, or ""
	Err    error  // from starting or waiting for it
}

func (e *HelperError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %v", e.Path, e.Err)
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %q", e.Stderr)
	}
	if e.Fix != "" {
		fmt.Fprintf(&b, "; to fix, %s", e.Fix)
	}
	return b.String()
}

func (e *HelperError) Unwrap() error { return e.Err }

// helper is newuidmap or newgidmap.
type helper struct {
	kind string // "uid" or "gid": names the map, /etc/sub*id and usermod flag
	path string
	own  uint32 // the caller's own ID, which needs no sub-ID entry
}

// run is one started (or failed to start) helper.
type run struct {
	h      helper
	m      []Mapping
	cmd    *exec.Cmd
	stderr bytes.Buffer
	err    error // from Start
}

func (h helper) start(ctx context.Context, pid int, m []Mapping) *run {
	r := &run{h: h, m: m}
	r.cmd = exec.CommandContext(ctx, h.path, HelperArgs(pid, m)...)
	r.h.path = r.cmd.Path // as found in $PATH, for the message and privileged
	r.cmd.Stderr = &r.stderr
	r.err = r.cmd.Start()
	return r
}

func (r *run) wait() error {
	err := r.err
	if err == nil {
		err = r.cmd.Wait()
	}
	if err == nil {
		return nil
	}
	stderr := oneLine(r.stderr.String())
	return fmt.Errorf("write %s map: %w", r.h.kind, &HelperError{
		Path:   r.h.path,
		Stderr: stderr,
		Fix:    r.h.fix(err, stderr, r.m),
		Err:    err,
	})
}

// fix names what the user can do about a failed run, or "".
func (h helper) fix(err error, stderr string, m []Mapping) string {
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound):
		return fmt.Sprintf("install uidmap (apt install uidmap), which provides %s", h.path)
	case strings.Contains(stderr, "not allowed"):
		// newuidmap: "uid range [0-1) -> [1-2) not allowed": no /etc/subuid
		// line of this user covers the outside IDs.
		return h.subIDFix(m)
	case !Privileged(h.path):
		// Without privilege the helper gets as far as writing the map, and the
		// kernel's EPERM names no cause ("write to uid_map failed").
		return fmt.Sprintf("reinstall uidmap (apt install --reinstall uidmap) so %s is setuid root", h.path)
	}
	return ""
}

// subIDFix names the /etc/sub?id lines, and the usermod(8) call that adds them,
// that would allow the outside IDs of m.
func (h helper) subIDFix(m []Mapping) string {
	name := strconv.FormatUint(uint64(os.Getuid()), 10) // an owner may be a uid
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	rs := make([]Range, len(m))
	for i, e := range m {
		rs[i] = Range{Start: e.Outside, Length: e.Count}
	}
	var lines, usermod []string
	for _, r := range without(normalize(rs), h.own) {
		lines = append(lines, fmt.Sprintf("%q", fmt.Sprintf("%s:%d:%d", name, r.Start, r.Length)))
		usermod = append(usermod, fmt.Sprintf("--add-sub%ss %d-%d", h.kind, r.Start, r.end()-1))
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("add %s to /etc/sub%s (sudo usermod %s %s)",
		strings.Join(lines, ", "), h.kind, strings.Join(usermod, " "), name)
}

// Privileged says whether the helper at path can write maps for others'
// sub-IDs: setuid root (Debian) or file capabilities (Fedora).
func Privileged(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 && fi.Mode()&fs.ModeSetuid != 0 {
		return true
	}
	n, err := unix.Getxattr(path, "security.capability", nil)
	return err == nil && n > 0
}

// maxStderr bounds how much of a helper's stderr an error quotes.
const maxStderr = 512

// oneLine joins the non-blank lines of s with "; " and bounds its length, so an
// error stays one log line.
func oneLine(s string) string {
	var parts []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, "; ")
	if len(s) > maxStderr {
		s = s[:maxStderr] + "..."
	}
	return s
}
