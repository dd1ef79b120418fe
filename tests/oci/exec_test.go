package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// running creates and starts a container of `sleep 60` and returns its
// state root and init's PID; the container is killed and deleted at the
// end of the test.
func running(t *testing.T, id string, edit func(cfg map[string]any)) (string, int) {
	t.Helper()
	b := bundle(t, []string{"sleep", "60"}, edit)
	root := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", b, "--pid-file", pidFile, id)
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	mustRT(t, root, "start", id)
	t.Cleanup(func() {
		rt(t, root, "kill", id, "KILL")
		waitStatus(t, pid)
		rt(t, root, "delete", "--force", id)
	})
	return root, pid
}

// TestExec: exec through init runs in the container (its hostname, PID
// namespace, lock-down), and its status, environment and working directory
// are the ones asked for.
func TestExec(t *testing.T) {
	root, _ := running(t, "e", nil)
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"sh", "-c", "exit 7"}, 7, ""},
		{[]string{"sh", "-c", "kill -TERM $$"}, 143, ""},
		{[]string{"hostname"}, 0, "oci-test\n"},
		{[]string{"--env", "FOO=bar baz", "sh", "-c", "echo \"$FOO:$PATH\""}, 0, "bar baz:/bin\n"},
		{[]string{"--cwd", "/tmp", "sh", "-c", "pwd"}, 0, "/tmp\n"},
		{[]string{"--cwd", "/../../../etc", "sh", "-c", "pwd"}, 0, "/etc\n"},
		// Seccomp mode 2, no_new_privs, the container's bounding set.
		{[]string{"sh", "-c", "grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/self/status"}, 0,
			"CapBnd:\t0000000000000420\nNoNewPrivs:\t1\nSeccomp:\t2\n"},
		// Only stdio: nothing of init's (ls's own directory is 3).
		{[]string{"ls", "/proc/self/fd"}, 0, "0\n1\n2\n3\n"},
		{[]string{"no-such-command"}, 127, ""},
	} {
		r := rt(t, root, append([]string{"exec", "e"}, c.args...)...)
		if r.code != c.code || r.stdout != c.stdout && c.stdout != "" {
			t.Errorf("exec %q: exit %d, stdout %q, stderr %s; want %d, %q", c.args, r.code, r.stdout, r.stderr, c.code, c.stdout)
		}
	}
	// The PID namespace is the container's: sleep (the command) is there.
	r := rt(t, root, "exec", "e", "sh", "-c", "echo $$; cat /proc/1/comm")
	if f := strings.Fields(r.stdout); r.code != 0 || len(f) != 2 || f[1] != "sandbox-init" {
		t.Errorf("exec: exit %d, %q; want its PID and init as PID 1", r.code, r.stdout)
	}
	// --process, as conmon gives it.
	proc := filepath.Join(t.TempDir(), "process.json")
	p, _ := json.Marshal(map[string]any{
		"args": []string{"sh", "-c", "pwd; echo $X"}, "env": []string{"PATH=/bin", "X=from-json"},
		"cwd": "/dev", "user": map[string]any{"uid": 0, "gid": 0},
	})
	if err := os.WriteFile(proc, p, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := rt(t, root, "exec", "--process", proc, "e"); r.code != 0 || r.stdout != "/dev\nfrom-json\n" {
		t.Errorf("exec --process: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestExecCwdEscape: exec's working directory is resolved inside the root
// only, as the command's is: the /proc links that name an open file
// (init's, the process's own) are refused, never followed to the host.
func TestExecCwdEscape(t *testing.T) {
	root, _ := running(t, "esc", nil)
	for _, cwd := range []string{"/proc/self/fd/3", "/proc/self/cwd", "/proc/1/root", "/proc/1/cwd", "/proc/self/root/../.."} {
		r := rt(t, root, "exec", "--cwd", cwd, "esc", "sh", "-c", "pwd; ls")
		if r.code == 0 || !strings.Contains(r.stderr, "working directory") {
			t.Errorf("exec --cwd %s: exit %d, stdout %q, stderr %q; want a refusal", cwd, r.code, r.stdout, r.stderr)
		}
	}
	for fd := 3; fd < 12; fd++ {
		cwd := "/proc/1/fd/" + strconv.Itoa(fd)
		if r := rt(t, root, "exec", "--cwd", cwd, "esc", "pwd"); r.code == 0 {
			t.Errorf("exec --cwd %s: ran in %q", cwd, r.stdout)
		}
	}
}

// TestExecDetach: --detach returns at once; the PID in --pid-file stands
// for the process (conmon waits for it as a subreaper, as we do here): it
// ends with the process's status, passes signals on, and its end ends the
// process.
func TestExecDetach(t *testing.T) {
	root, initPid := running(t, "d", nil)
	pidOf := func(file string) int {
		t.Helper()
		data, err := os.ReadFile(file)
		pid, _ := strconv.Atoi(string(data))
		if err != nil || pid <= 0 {
			t.Fatalf("pid file: %q, %v", data, err)
		}
		return pid
	}
	f := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	mustRT(t, root, "exec", "--detach", "--pid-file", f, "d", "sh", "-c", "sleep 1; exit 3")
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("exec --detach took %s: it waited for the process", d)
	}
	if code := waitStatus(t, pidOf(f)); code != 3 {
		t.Errorf("detached exec's status: %d, want 3", code)
	}
	// A signal to the waiter reaches the process.
	mustRT(t, root, "exec", "-d", "--pid-file", f, "d", "sleep", "60")
	procs := ps(t, root, "d")
	if len(procs) != 3 || !slices.Contains(procs, initPid) {
		t.Fatalf("ps: %v; want init, its command and the exec'd sleep", procs)
	}
	waiter := pidOf(f)
	if err := unix.Kill(waiter, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitStatus(t, waiter); code != 143 {
		t.Errorf("detached sleep after SIGTERM to its waiter: %d, want 143", code)
	}
	// The waiter killed outright: init ends the process.
	mustRT(t, root, "exec", "-d", "--pid-file", f, "d", "sleep", "60")
	waiter = pidOf(f)
	if err := unix.Kill(waiter, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, waiter)
	deadline := time.Now().Add(5 * time.Second)
	for len(ps(t, root, "d")) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("exec'd sleep still there after its waiter was killed: %v", ps(t, root, "d"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ps is `ps --format json`'s PIDs.
func ps(t *testing.T, root, id string) []int {
	t.Helper()
	var pids []int
	out := mustRT(t, root, "ps", "--format", "json", id)
	if err := json.Unmarshal([]byte(out), &pids); err != nil {
		t.Fatalf("ps --format json: %q: %v", out, err)
	}
	return pids
}

// TestPs: the PIDs are the caller's view of the container's processes:
// init first, then the command, whose parent is init.
func TestPs(t *testing.T) {
	root, initPid := running(t, "p", nil)
	pids := ps(t, root, "p")
	if len(pids) != 2 || pids[0] != initPid {
		t.Fatalf("ps: %v; want init (%d) and its command", pids, initPid)
	}
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pids[1]) + "/comm")
	if string(comm) != "sleep\n" {
		t.Errorf("ps's second PID is %q, want the command (sleep)", comm)
	}
	out := mustRT(t, root, "ps", "p")
	if !strings.Contains(out, strconv.Itoa(pids[1])+" sleep 60") {
		t.Errorf("ps table: %q", out)
	}
	mustRT(t, root, "kill", "p", "KILL")
	waitStatus(t, initPid)
	if r := rt(t, root, "ps", "p"); r.code == 0 {
		t.Errorf("ps of a stopped container: exit 0, %q", r.stdout)
	}
	if r := rt(t, root, "exec", "p", "true"); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("exec in a stopped container: exit %d, %q", r.code, r.stderr)
	}
}
