package systemdcgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroup2Mount is where the cgroup2 hierarchy is mounted, and which of its
// cgroups is the mount's root (not "/" when mounted inside a cgroup namespace).
type cgroup2Mount struct {
	Dir, Root string
}

// findCgroup2 reads /proc/self/mountinfo for the cgroup2 mount.
func findCgroup2() (cgroup2Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroup2Mount{}, fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	m, err := parseCgroup2Mount(f)
	if err != nil {
		return cgroup2Mount{}, fmt.Errorf("find cgroup2 mount: %w", err)
	}
	return m, nil
}

// parseCgroup2Mount picks the cgroup2 mount from mountinfo text, preferring
// /sys/fs/cgroup (unified hosts) over /sys/fs/cgroup/unified (hybrid hosts)
// over any other. The last mount on a point wins, as it hides the others.
func parseCgroup2Mount(r io.Reader) (cgroup2Mount, error) {
	found := map[string]cgroup2Mount{}
	var first string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw (proc(5))
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		dir := UnescapeMountinfo(f[4])
		found[dir] = cgroup2Mount{Dir: dir, Root: UnescapeMountinfo(f[3])}
		if first == "" {
			first = dir
		}
	}
	if err := sc.Err(); err != nil {
		return cgroup2Mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", first} {
		if m, ok := found[dir]; ok {
			return m, nil
		}
	}
	return cgroup2Mount{}, errors.New("no cgroup2 mount in /proc/self/mountinfo")
}

// UnescapeMountinfo undoes the kernel's octal escapes in a field of
// /proc/self/mountinfo (\040 for a space, \011, \012, \134).
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// HostPath is the directory of cgroup cg (a path such as systemd's
// ControlGroup, relative to the mount's cgroup namespace) under this mount.
func (m cgroup2Mount) HostPath(cg string) string {
	if m.Root != "/" {
		cg = strings.TrimPrefix(cg, m.Root)
	}
	return filepath.Join(m.Dir, cg)
}

// readControllers reads the cgroup.controllers file of a cgroup directory.
func readControllers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	return strings.Fields(string(b)), nil
}

// HostControllers returns the controllers of the cgroup2 hierarchy's root:
// all any delegation can give. On hybrid hosts memory, cpu, pids and io are
// usually bound to cgroup v1 and missing here; see HostAdvice.
func HostControllers() ([]string, error) {
	m, err := findCgroup2()
	if err != nil {
		return nil, err
	}
	return readControllers(m.Dir)
}

// OwnCgroup returns the host directory of our own cgroup2 cgroup, for hosts
// without a systemd user manager whose cgroup was delegated to us some other
// way (a container runtime, a hand-made delegation). ok is false unless we may
// create a leaf there, move processes (cgroup.procs) and enable controllers
// (cgroup.subtree_control).
func OwnCgroup() (dir string, ok bool) {
	m, err := findCgroup2()
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	cg, ok := unifiedCgroup(string(b))
	if !ok {
		return "", false
	}
	dir = m.HostPath(cg)
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		// AT_EACCESS: the check must use the ids the writes will use.
		if unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_EACCESS) != nil {
			return dir, false
		}
	}
	return dir, true
}

// unifiedCgroup finds the "0::/path" line of /proc/self/cgroup text.
func unifiedCgroup(text string) (string, bool) {
	for line := range strings.Lines(text) {
		cg, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "0::")
		if !ok {
			continue
		}
		// A removed cgroup we are still in reads "/x (deleted)" (cgroups(7)).
		if !strings.HasPrefix(cg, "/") || strings.HasSuffix(cg, " (deleted)") {
			return "", false
		}
		return cg, true
	}
	return "", false
}
