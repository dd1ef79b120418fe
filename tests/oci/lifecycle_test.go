package oci

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLifecycle is podman's sequence: create → created, with the PID file
// naming init → start → running → kill → stopped, init exiting with the
// command's status → delete → gone.
func TestLifecycle(t *testing.T) {
	b := bundle(t, []string{"sleep", "60"}, nil)
	root := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", b, "--pid-file", pidFile, "c1")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, _ := strconv.Atoi(string(data))
	st, spid := state(t, root, "c1")
	if st != "created" || spid != pid || pid <= 0 {
		t.Fatalf("after create: status %q pid %d, pid file %q; want created and the file's PID", st, spid, data)
	}
	if r := rt(t, root, "create", "--bundle", b, "c1"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second create of c1: exit %d, %s; want a refusal", r.code, r.stderr)
	}
	mustRT(t, root, "start", "c1")
	if st, _ := state(t, root, "c1"); st != "running" {
		t.Fatalf("after start: status %q, want running", st)
	}
	if r := rt(t, root, "delete", "c1"); r.code == 0 {
		t.Fatalf("delete of a running container without --force succeeded")
	}
	mustRT(t, root, "kill", "c1", "TERM")
	if code := waitStatus(t, pid); code != 128+15 {
		t.Fatalf("init's status after kill TERM: %d, want 143 (the command's)", code)
	}
	if st, spid := state(t, root, "c1"); st != "stopped" || spid != 0 {
		t.Fatalf("after kill: status %q pid %d, want stopped, 0", st, spid)
	}
	mustRT(t, root, "delete", "c1")
	if r := rt(t, root, "state", "c1"); r.code == 0 {
		t.Fatalf("state after delete: exit 0, %s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "c1")); !os.IsNotExist(err) {
		t.Fatalf("state directory left after delete: %v", err)
	}
}

// TestExitStatus: init exits with the command's status (what conmon
// reads), and run passes it on.
func TestExitStatus(t *testing.T) {
	b := bundle(t, []string{"sh", "-c", "exit 7"}, nil)
	root := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", b, "--pid-file", pidFile, "c")
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	mustRT(t, root, "start", "c")
	if code := waitStatus(t, pid); code != 7 {
		t.Fatalf("init's status: %d, want 7", code)
	}
	mustRT(t, root, "delete", "c")

	b = bundle(t, []string{"sh", "-c", "echo out; exit 3"}, nil)
	r := rt(t, root, "run", "--bundle", b, "r")
	if r.code != 3 || r.stdout != "out\n" {
		t.Fatalf("run: exit %d, stdout %q; want 3, \"out\\n\"", r.code, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "r")); !os.IsNotExist(err) {
		t.Fatalf("run left its state: %v", err)
	}
}

// TestMissingCommand: create fails, in the words podman turns into 127,
// as one JSON line in --log, and leaves no state.
func TestMissingCommand(t *testing.T) {
	b := bundle(t, []string{"no-such-command"}, nil)
	root := t.TempDir()
	log := filepath.Join(t.TempDir(), "log.json")
	r := rt(t, root, "--log", log, "--log-format", "json", "create", "--bundle", b, "c")
	if r.code == 0 {
		t.Fatal("create of a missing command succeeded")
	}
	line := onlyLogLine(t, log)
	if !strings.Contains(line.Msg, "executable file not found in $PATH") || line.Level != "error" {
		t.Fatalf("log line %+v: want level error, \"executable file not found in $PATH\"", line)
	}
	if _, err := os.Stat(filepath.Join(root, "c")); !os.IsNotExist(err) {
		t.Fatalf("failed create left its state: %v", err)
	}
}

// TestBadConfig: a config.json that is not JSON, or asks for what is not
// done, is one JSON log line and exit 1, with nothing started.
func TestBadConfig(t *testing.T) {
	for name, edit := range map[string]func(b string){
		"not json": func(b string) { os.WriteFile(filepath.Join(b, "config.json"), []byte("{"), 0o644) },
		"join mount ns": func(b string) {
			rewrite(t, b, func(cfg map[string]any) {
				lin := cfg["linux"].(map[string]any)
				lin["namespaces"] = append(lin["namespaces"].([]any), map[string]any{"type": "mount", "path": "/proc/1/ns/mnt"})
			})
		},
		"bad mount type": func(b string) {
			rewrite(t, b, func(cfg map[string]any) {
				cfg["mounts"] = append(cfg["mounts"].([]any), map[string]any{"destination": "/x", "type": "nfs", "source": "h:/x"})
			})
		},
		"ptrace": func(b string) {
			rewrite(t, b, func(cfg map[string]any) {
				cfg["process"].(map[string]any)["capabilities"] = map[string]any{"bounding": []string{"CAP_SYS_PTRACE"}}
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := bundle(t, []string{"true"}, nil)
			edit(b)
			root := t.TempDir()
			log := filepath.Join(t.TempDir(), "log.json")
			r := rt(t, root, "--log", log, "--log-format", "json", "create", "--bundle", b, "c")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
			}
			if line := onlyLogLine(t, log); line.Level != "error" || line.Msg == "" || line.Time == "" {
				t.Fatalf("log line %+v: want level, msg and time", line)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("stderr is more than one line: %q", r.stderr)
			}
		})
	}
}

type logLine struct {
	Level, Msg, Time string
}

// onlyLogLine reads the log and requires exactly one JSON line.
func onlyLogLine(t *testing.T, path string) logLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want 1: %s", len(lines), data)
	}
	var l logLine
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatalf("log line %q: %v", lines[0], err)
	}
	return l
}

func rewrite(t *testing.T, b string, edit func(cfg map[string]any)) {
	t.Helper()
	p := filepath.Join(b, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	data, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPIDReuse: a state whose PID now names another process (same PID,
// other start time) reads as stopped, and kill never reaches that process.
func TestPIDReuse(t *testing.T) {
	b := bundle(t, []string{"sleep", "60"}, nil)
	root := t.TempDir()
	mustRT(t, root, "create", "--bundle", b, "c")
	p := filepath.Join(root, "c", "state.json")
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// The real init back, so delete ends it.
		_ = os.WriteFile(p, orig, 0o600)
		rt(t, root, "delete", "--force", "c")
	}()
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	// Stands for the kernel giving init's PID to another process.
	var st map[string]any
	if err := json.Unmarshal(orig, &st); err != nil {
		t.Fatal(err)
	}
	st["pid"] = other.Process.Pid
	forged, _ := json.Marshal(st)
	if err := os.WriteFile(p, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, pid := state(t, root, "c"); s != "stopped" || pid != 0 {
		t.Fatalf("state with a reused PID: %q %d, want stopped, 0", s, pid)
	}
	if r := rt(t, root, "kill", "c", "KILL"); r.code == 0 {
		t.Fatal("kill through a reused PID succeeded")
	}
	time.Sleep(200 * time.Millisecond)
	var ws unix.WaitStatus
	if got, _ := unix.Wait4(other.Process.Pid, &ws, unix.WNOHANG, nil); got == other.Process.Pid {
		t.Fatalf("the process that got the PID was killed: %v", ws)
	}
}
