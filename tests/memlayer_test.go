package tests

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sandbox/tests/feature"
)

// storeFiles lists every path under the store of layers.
func storeFiles(t *testing.T) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	_ = filepath.WalkDir(dataDir(t), func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			files[p] = true
		}
		return nil
	})
	return files
}

// An ephemeral run keeps its copy-on-write layers in memory (issue 15):
// while it runs and writes outside the current directory, nothing of it is in
// the store of layers, and at exit one line says what was discarded (not
// with --quiet).
func TestEphemeralLayersInMemory(t *testing.T) {
	requires(t, UserNS)
	if !feature.MemoryLayer() {
		t.Skip("requires Linux 6.6 (user xattrs on tmpfs): ephemeral layers stay on disk")
	}
	home, _ := os.UserHomeDir()
	tok := fmt.Sprintf("memlayer-%d-%d", os.Getpid(), time.Now().UnixNano())
	target := filepath.Join(home, ".cache", tok) // not below the bound work directory
	before := storeFiles(t)
	cmd := exec.Command(bin, "--", "sh", "-c", `head -c 300000 /dev/zero > "$1"; echo written; read x || true`, "sh", target)
	cmd.Dir = workdir(t)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "written\n" {
		t.Fatalf("no written line: %q %v\n%s", buf, err, stderr.String())
	}
	during := storeFiles(t)
	stdin.Close()
	_ = cmd.Wait()
	for p := range during {
		if !before[p] {
			t.Errorf("the running ephemeral sandbox has %s in the store", p)
		}
		if strings.Contains(p, tok) {
			t.Errorf("what the command wrote is on disk: %s", p)
		}
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("the write to %s reached the host", target)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "discarded ") || !strings.Contains(stderr.String(), "--name") {
		t.Errorf("no note of what was discarded:\n%s", stderr.String())
	}
	r := sandbox(t, "", nil, "--quiet", "--", "sh", "-c", `echo x > "$1"`, "sh", target)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("--quiet: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if r := sandbox(t, "", nil, "--", "true"); r.stderr != "" {
		t.Errorf("a run that wrote nothing says %q", r.stderr)
	}
}

// --tmp-size bounds the memory layer and /tmp: a write beyond it fails with
// ENOSPC inside, and a bad size is one line and 125.
func TestTmpSize(t *testing.T) {
	requires(t, UserNS)
	home, _ := os.UserHomeDir()
	for _, dst := range []string{"/tmp/big", "/dev/shm/big", filepath.Join(home, ".cache", "memlayer-big")} {
		if strings.HasPrefix(dst, home) && !feature.MemoryLayer() {
			continue
		}
		r := sandbox(t, "", nil, "--quiet", "--tmp-size", "1M", "--", "sh", "-c", `head -c 3000000 /dev/zero > "$1" || echo ENOSPC-seen`, "sh", dst)
		if !strings.Contains(r.stdout, "ENOSPC-seen") || !strings.Contains(r.stderr, "No space left") {
			t.Errorf("--tmp-size 1M, 3 MB to %s: want ENOSPC:\n%+v", dst, r)
		}
	}
	name := fmt.Sprintf("tmpsize-%d", os.Getpid())
	r := sandbox(t, "", nil, "--name", name, "--tmp-size", "lots", "--", "true")
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "--tmp-size") {
		t.Errorf("--tmp-size lots: exit %d, stderr %q; want 125 and one line", r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dataDir(t), name)); err == nil {
		sandbox(t, "", nil, "rm", name)
		t.Errorf("a run refused for --tmp-size made the sandbox %s", name)
	}
}

// When sandbox returns, nothing of the sandbox runs any more, whether the
// command exited, was killed, or left daemons behind: init ends them before
// it reports, so the parent can leave without waiting for the teardown.
func TestNothingLeftAtReturn(t *testing.T) {
	requires(t, UserNS)
	for _, c := range []struct{ name, script string }{
		{"exit", `true`},
		{"killed", `kill -9 $$`},
		{"daemons", `(setsid sleep 300 &) ; sleep 300 & echo started`},
	} {
		t.Run(c.name, func(t *testing.T) {
			marker := fmt.Sprintf("LEFT_MARKER_%d_%d", os.Getpid(), time.Now().UnixNano())
			r := sandbox(t, "", []string{marker + "=1"}, "--", "sh", "-c", c.script)
			if c.name == "killed" && r.code != 137 {
				t.Errorf("killed command: exit %d, want 137", r.code)
			}
			if left := procsWith(marker); len(left) > 0 {
				t.Errorf("processes of the sandbox alive after it returned: %q", left)
			}
		})
	}
}

// procsWith lists the processes whose environment holds marker.
func procsWith(marker string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' || e.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if bytes.Contains(env, []byte(marker)) {
			stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue // dead, waiting for its parent (outside) to reap it
			}
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}
