package tests

import (
	"strings"
	"testing"
)

// Without newuidmap on PATH, auto falls back to a single map and says so in one
// line where sub-IDs would have been used (--uid 0); a plain run, which needs
// none, says nothing; subids refuses with the fix.
func TestMissingHelper(t *testing.T) {
	requires(t, UserNS, NotRoot)
	noHelpers := []string{"PATH=" + t.TempDir()}
	// Only shell builtins: PATH holds nothing inside either.
	countMap := []string{"/bin/sh", "-c", "n=0; while read l; do n=$((n+1)); done </proc/self/uid_map; echo $n"}
	r := sandbox(t, "", noHelpers, append([]string{"--uid", "0", "--overlay", "kernel", "--"}, countMap...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("--map auto --uid 0 without helpers: exit %d, %q lines of uid_map; stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := len(lines(r.stderr)); n != 1 || !strings.Contains(r.stderr, "single-ID map") || !strings.Contains(r.stderr, "apt install uidmap") {
		t.Errorf("want one note line naming the fix, got %q", r.stderr)
	}
	r = sandbox(t, "", noHelpers, append([]string{"--"}, countMap...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "1" || r.stderr != "" {
		t.Errorf("plain run without helpers: exit %d, %q lines of uid_map, stderr %q; want 1 line and no note", r.code, r.stdout, r.stderr)
	}
	r = sandbox(t, "", noHelpers, "--map", "subids", "--", "/bin/true")
	if r.code != 125 || !strings.Contains(r.stderr, "apt install uidmap") || len(lines(r.stderr)) != 1 {
		t.Errorf("--map subids without helpers: exit %d, stderr %q; want 125 and the fix", r.code, r.stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := sandbox(t, "", nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--share-net") || !strings.Contains(r.stdout, "Examples") {
		t.Errorf("--help: exit %d, output %q", r.code, r.stdout)
	}
	r = sandbox(t, "", nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sandbox ") {
		t.Errorf("version: exit %d, output %q", r.code, r.stdout)
	}
}
