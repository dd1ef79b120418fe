package escape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Absurd flag values and paths are refused before anything happens: one line
// on stderr, exit 125, the command never runs, nothing is created on the host.
func TestBadInput(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	ran := filepath.Join(dir, "ran")
	store := filepath.Dir(ephemeralDir())
	guard(t, dir, filepath.Join(store, "a", "b"), filepath.Join(store, "escape-bad"), filepath.Join(filepath.Dir(store), "escape-bad"),
		"/tmp/escape-bad", "/tmp/escape-bad\nx")
	for _, args := range [][]string{
		{"--uid", "99999999999"},
		{"--uid=-2"},
		{"--gid", "-5"},
		{"--memory", "-1"},
		{"--memory", "1Q"},
		{"--memory", "99999999T"},
		{"--pids", "abc"},
		{"--pids", "-1"},
		{"--cpus", "0"},
		{"--cpus", "-1"},
		{"--cpus", "NaN"},
		{"--io-weight", "10001"},
		{"--rw", dir + "/a\nb"},
		{"--ro", dir + ":/tmp/escape-bad\nx"},
		{"--tmpfs", "/tmp/escape-bad\nx"},
		{"--tmpfs", "relative"},
		{"--hide", "/tmp/escape-bad\nx"},
		{"--chdir", "/tmp/escape-bad\nx"},
		{"--name", "a/b"},
		{"--name", "../escape-bad"},
		{"--name", ".ephemeral"},
		{"--name", "/tmp/escape-bad"},
		{"--name", "escape-bad\nx"},
		{"--net", "bogus"},
		{"--seccomp", dir + "/no-such-profile.json"},
		{"--cap-add", "CAP_BOGUS"},
		{"--map", "bogus"},
	} {
		r := run{dir: dir}.sandbox(t, append(args, "--", escapee, "do", "create:"+ran)...)
		if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "sandbox: ") {
			t.Errorf("%q: want exit 125 and one line on stderr, got %s", args, r)
		}
		if _, err := os.Lstat(ran); err == nil {
			t.Errorf("%q: the command ran", args)
			os.Remove(ran)
		}
	}
}

// A limit of zero is refused too: the README's ranges start at 1 (IOWeight
// 1-10000) and a limit asked for is never silently dropped ("Never silently
// unlimited"), yet zero is what the flags hold when not given.
func TestZeroLimitsRefused(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	ran := filepath.Join(dir, "ran")
	for _, args := range [][]string{{"--pids", "0"}, {"--memory", "0"}, {"--io-weight", "0"}} {
		r := run{dir: dir}.sandbox(t, append(args, "--", escapee, "do", "create:"+ran)...)
		if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: want exit 125 and one line on stderr, got %s", args, r)
		}
		os.Remove(ran)
	}
}
