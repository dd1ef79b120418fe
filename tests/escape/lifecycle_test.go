package escape

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sandbox/tests/feature"
)

// SIGKILL of sandbox while the command runs leaves no process behind (init
// gets PR_SET_PDEATHSIG, and the PID namespace dies with it), and the next
// run removes the killed run's ephemeral layer.
func TestKilledSandboxLeavesNothing(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		mark := "escape-life-" + token()
		dir := workdir(t)
		started := filepath.Join(dir, "started")
		// The marker is in the command line and the environment of both
		// processes of the command: sh and its sleep.
		script := "echo x > /etc/" + mark + " && touch " + started + " && sleep 300; : " + mark
		cmd := exec.Command(bin, m.with("--", "sh", "-c", script)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ESCAPE_RUN="+mark)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if !waitUntil(10*time.Second, func() bool { _, err := os.Stat(started); return err == nil }) {
			t.Fatalf("%s: the command did not start", m.name)
		}
		if len(withMarker(mark)) < 2 {
			t.Fatalf("%s: the command's processes are not visible by their marker, the case proves nothing: %v", m.name, withMarker(mark))
		}
		// A plain run keeps its layers in memory from Linux 6.6 (issue 15):
		// then nothing of it may be on disk at all; --uid 0 keeps them on
		// disk, where the case proves that the next run clears them.
		layers := markedLayers(mark)
		switch inMemory := m.name == defaultMode.name && feature.MemoryLayer(); {
		case inMemory && len(layers) > 0:
			t.Errorf("%s: the run's write to /etc is on disk, not in the memory layer: %v", m.name, layers)
		case !inMemory && len(layers) == 0:
			t.Errorf("%s: the run's write to /etc is in no ephemeral layer under %s, the case proves less than it should", m.name, ephemeralDir())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !waitUntil(3*time.Second, func() bool { return len(withMarker(mark)) == 0 }) {
			t.Errorf("%s: processes left 3 s after SIGKILL of sandbox: %v", m.name, withMarker(mark))
		}
		must(t, "--", "true")
		if left := markedLayers(mark); len(left) > 0 {
			t.Errorf("%s: the killed run's ephemeral layer is still there after the next run: %v", m.name, left)
			removeLayers(t, left)
		}
	}, defaultMode, root)
}

func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// ephemeralDir is where sandbox keeps the layers of unnamed runs.
func ephemeralDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if !filepath.IsAbs(base) {
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "sandbox", ".ephemeral")
}

// removeLayers removes what a failed cleanup left in the store: the ephemeral
// directories holding paths, from a user namespace with our sub-IDs (the
// upper layers hold files of those IDs).
func removeLayers(t *testing.T, paths []string) {
	t.Helper()
	root := ephemeralDir()
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		dir := filepath.Join(root, strings.Split(rel, "/")[0])
		if out, err := exec.Command("unshare", "--map-root-user", "--map-auto", "rm", "-rf", dir).CombinedOutput(); err != nil {
			t.Logf("could not remove %s either: %v: %s", dir, err, out)
		}
	}
}

// markedLayers lists the files named mark in the ephemeral layers.
func markedLayers(mark string) []string {
	var found []string
	root := ephemeralDir()
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Name() == mark {
			found = append(found, p)
		}
		if d.IsDir() && strings.Count(strings.TrimPrefix(p, root), "/") > 8 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}
