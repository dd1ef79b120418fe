package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// profile is a seccomp profile file: the OCI fields plus Docker's (archMap,
// name, comment, includes, excludes) and Podman's (defaultErrno, errno).
type profile struct {
	specs.LinuxSeccomp
	DefaultErrno string        `json:"defaultErrno"`
	ArchMap      []archMap     `json:"archMap"`
	Syscalls     []profileCall `json:"syscalls"`
}

type archMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type profileCall struct {
	specs.LinuxSyscall
	Name     string `json:"name"`
	Errno    string `json:"errno"`
	Comment  string `json:"comment"`
	Includes filter `json:"includes"`
	Excludes filter `json:"excludes"`
}

// filter is Docker's condition on an entry (moby profiles/seccomp).
type filter struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// ParseProfile reads a seccomp profile in the OCI or Docker JSON format
// (as `docker run --security-opt seccomp=FILE` takes) for the native
// architecture. Unknown fields, duplicate keys and wrong types are errors;
// every error is one line naming the field, with line and column where the
// JSON itself is at fault.
//
// Docker's conditions are evaluated for this sandbox: includes.arches and
// excludes.arches against GOARCH, minKernel against the running kernel, and
// caps as for a command with no capabilities, which is what the sandbox
// gives non-root commands: an entry that Docker enables for a capability
// stays out even for a root command that holds it in the sandbox (say
// chroot for CAP_SYS_CHROOT), the safe direction. The rest is as in
// FromSpec.
func ParseProfile(data []byte) (*Policy, error) {
	if err := checkShape(data); err != nil {
		return nil, err
	}
	var pr profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pr); err != nil {
		// checkShape has vetted keys and types; this is a backstop.
		return nil, fmt.Errorf("decode seccomp profile: %w", err)
	}
	s := pr.LinuxSeccomp
	if pr.DefaultErrno != "" {
		e, err := errnoBoth(pr.DefaultErrno, s.DefaultErrnoRet, "defaultErrno", "defaultErrnoRet")
		if err != nil {
			return nil, err
		}
		s.DefaultErrnoRet = &e
	}
	for i, m := range pr.ArchMap {
		for j, a := range append([]specs.Arch{m.Arch}, m.SubArches...) {
			if !knownArch(a) {
				field := fmt.Sprintf("archMap[%d].architecture", i)
				if j > 0 {
					field = fmt.Sprintf("archMap[%d].subArchitectures[%d]", i, j-1)
				}
				return nil, fmt.Errorf("%s: unknown architecture %q", field, a)
			}
		}
	}
	var entries []entry
	for i, c := range pr.Syscalls {
		e, keep, err := dockerEntry(i, c)
		if err != nil {
			return nil, err
		}
		if keep {
			entries = append(entries, e)
		}
	}
	return convert(&s, entries)
}

// dockerEntry resolves Docker's and Podman's extensions of one entry and
// reports whether the entry applies here.
func dockerEntry(i int, c profileCall) (entry, bool, error) {
	e := entry{path: fmt.Sprintf("syscalls[%d]", i), namesField: "names", sc: c.LinuxSyscall}
	if c.Name != "" {
		if len(c.Names) > 0 {
			return e, false, fmt.Errorf("%s.name: give name or names, not both", e.path)
		}
		e.namesField, e.sc.Names = "name", []string{c.Name}
	}
	if c.Errno != "" {
		n, err := errnoBoth(c.Errno, c.ErrnoRet, e.path+".errno", "errnoRet")
		if err != nil {
			return e, false, err
		}
		e.sc.ErrnoRet = &n
	}
	in, err := c.Includes.eval(e.path + ".includes")
	if err != nil {
		return e, false, err
	}
	ex, err := c.Excludes.eval(e.path + ".excludes")
	if err != nil {
		return e, false, err
	}
	// Docker: every includes condition must hold; any excludes one
	// drops the entry.
	return e, in.all() && !ex.any(), nil
}

// conds is which conditions of a filter are given (has*) and which hold.
type conds struct {
	hasCaps, hasArches, hasKernel bool
	caps, arches, kernel          bool
}

func (c conds) all() bool {
	return (!c.hasCaps || c.caps) && (!c.hasArches || c.arches) && (!c.hasKernel || c.kernel)
}

func (c conds) any() bool {
	return c.hasCaps && c.caps || c.hasArches && c.arches || c.hasKernel && c.kernel
}

// eval checks a filter's syntax and evaluates its conditions here: caps
// never hold (the command has no capabilities), arches against GOARCH,
// minKernel against the running kernel.
func (f filter) eval(path string) (conds, error) {
	c := conds{hasCaps: len(f.Caps) > 0, hasArches: len(f.Arches) > 0, hasKernel: f.MinKernel != ""}
	for j, cp := range f.Caps {
		if !strings.HasPrefix(cp, "CAP_") {
			return c, fmt.Errorf("%s.caps[%d]: %q is not a capability name", path, j, cp)
		}
	}
	c.arches = slices.Contains(f.Arches, runtime.GOARCH)
	if c.hasKernel {
		want, ok := parseKernel(f.MinKernel)
		if !ok {
			return c, fmt.Errorf("%s.minKernel: %q is not a kernel version like \"5.8\"", path, f.MinKernel)
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return c, fmt.Errorf("read kernel version: %w", err)
		}
		have, _ := parseKernel(unix.ByteSliceToString(u.Release[:]))
		c.kernel = have >= want
	}
	return c, nil
}

// parseKernel reads "major.minor" from the front of a release string as
// major<<16|minor, ignoring any patch level and suffix ("6.18.0-1-amd64").
func parseKernel(s string) (uint32, bool) {
	major, rest, ok := strings.Cut(s, ".")
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	maj, err1 := strconv.ParseUint(major, 10, 16)
	minor, err2 := strconv.ParseUint(rest[:end], 10, 16)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return uint32(maj)<<16 | uint32(minor), true
}

// errnoNamed returns the number of an errno name such as "EPERM".
// errnoBoth reads an errno given by name, and by number too where ret is
// set: podman's own profile (/usr/share/containers/seccomp.json) gives
// "defaultErrno": "ENOSYS" with "defaultErrnoRet": 38. The two must agree:
// which one a runtime honours differs, so a profile that means two things
// is refused.
func errnoBoth(name string, ret *uint, path, retField string) (uint, error) {
	n, err := errnoNamed(name, path)
	if err != nil {
		return 0, err
	}
	if ret != nil && *ret != n {
		return 0, fmt.Errorf("%s: %s is %d, but %s says %d; give one, or the same", path, name, n, retField, *ret)
	}
	return n, nil
}

func errnoNamed(name, path string) (uint, error) {
	for e := syscall.Errno(1); e <= maxErrno; e++ {
		if unix.ErrnoName(e) == name {
			return uint(e), nil
		}
	}
	return 0, fmt.Errorf("%s: unknown errno %q", path, name)
}
