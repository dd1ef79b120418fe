package escape

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// hostState is what the host looked like to the test: a digest of each file
// under the paths watched, and the test process's mount table.
type hostState struct {
	files     map[string]string
	mountinfo string
}

// guard records the host's state now, for the paths given and for those
// every test watches (the sandbox binary, escapee, the secret in ~/.ssh; not
// the rest of ~/.ssh, where another run of this suite may come and go), and
// checks at the end of the test that none of it changed.
func guard(t *testing.T, paths ...string) {
	t.Helper()
	paths = append([]string{bin, escapee, secret}, paths...)
	before := snapshot(paths)
	t.Cleanup(func() {
		after := snapshot(paths)
		for _, d := range before.diff(after) {
			t.Errorf("the host changed: %s", d)
		}
	})
}

func snapshot(paths []string) hostState {
	s := hostState{files: map[string]string{}}
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			s.files[path] = digest(path, err)
			return nil
		})
		if _, ok := s.files[p]; !ok {
			s.files[p] = "missing"
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	s.mountinfo = string(b)
	return s
}

// digest describes one path: its type, mode, owner and content (a symlink's
// target, a file's SHA-256).
func digest(path string, walkErr error) string {
	st, err := os.Lstat(path)
	if err != nil {
		return "missing"
	}
	d := st.Mode().String()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		d += fmt.Sprintf(" %d:%d", sys.Uid, sys.Gid)
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return d + " -> " + target
	case st.Mode().IsRegular():
		b, err := os.ReadFile(path)
		if err != nil {
			return d + " unreadable"
		}
		sum := sha256.Sum256(b)
		return d + " " + hex.EncodeToString(sum[:])
	case walkErr != nil:
		return d + " unlistable"
	}
	return d
}

// diff lists what differs between s and after, one line each.
func (s hostState) diff(after hostState) []string {
	var out []string
	for p, d := range s.files {
		if a, ok := after.files[p]; !ok {
			out = append(out, fmt.Sprintf("%s removed (was %s)", p, d))
		} else if a != d {
			out = append(out, fmt.Sprintf("%s: %s, now %s", p, d, a))
		}
	}
	for p, a := range after.files {
		if _, ok := s.files[p]; !ok {
			out = append(out, fmt.Sprintf("%s appeared (%s)", p, a))
		}
	}
	if s.mountinfo != after.mountinfo {
		out = append(out, "the test's /proc/self/mountinfo changed:\n"+lineDiff(s.mountinfo, after.mountinfo))
	}
	sort.Strings(out)
	return out
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
