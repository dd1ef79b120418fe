package escape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sandbox-runc exec (#18): init forks the exec'd process, so what init
// holds is what an exec could reach. These attempts come in through exec's
// own inputs (its working directory, its capabilities) and from the exec'd
// process itself (init's descriptors, ptrace, signals).

// ociContainer creates and starts a container whose root is empty but for
// the host's /usr (read-only) and escapee's directory on /x, running sleep;
// it returns sandbox-runc's runner for that container's state root.
func ociContainer(t *testing.T, id string) func(args ...string) result {
	t.Helper()
	requires(t, UserNS)
	dir := t.TempDir()
	runc := filepath.Join(dir, "sandbox-runc")
	if err := os.Symlink(bin, runc); err != nil {
		t.Fatal(err)
	}
	root, b := filepath.Join(dir, "state"), filepath.Join(dir, "bundle")
	for _, d := range []string{"rootfs/usr", "rootfs/x", "rootfs/proc", "rootfs/dev", "rootfs/tmp"} {
		if err := os.MkdirAll(filepath.Join(b, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if err := os.Symlink("usr/"+l, filepath.Join(b, "rootfs", l)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`{"ociVersion": "1.0.2",
 "process": {"args": ["/usr/bin/sleep", "60"], "env": ["PATH=/usr/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0},
  "capabilities": {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]}, "noNewPrivileges": true},
 "root": {"path": "rootfs", "readonly": true},
 "mounts": [
  {"destination": "/proc", "type": "proc", "source": "proc"},
  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
  {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
  {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
  {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
  {"destination": "/x", "type": "bind", "source": %q, "options": ["rbind", "ro"]}
 ],
 "linux": {
  "uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
  "gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
  "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "network"}, {"type": "cgroup"}]
 }}`, filepath.Dir(escapee), os.Getuid(), os.Getgid())
	writeFile(t, filepath.Join(b, "config.json"), cfg, 0o644)
	rt := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(runc, append([]string{"--root", root}, args...)...)
		// Files, not pipes: init inherits create's stdio and outlives it.
		out, errb := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
		o, _ := os.Create(out)
		e, _ := os.Create(errb)
		cmd.Stdout, cmd.Stderr = o, e
		err := cmd.Start()
		if err == nil {
			timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
			_ = cmd.Wait()
			timer.Stop()
		}
		o.Close()
		e.Close()
		if err != nil {
			t.Fatalf("start sandbox-runc: %v", err)
		}
		so, _ := os.ReadFile(out)
		se, _ := os.ReadFile(errb)
		return result{string(so), string(se), cmd.ProcessState.ExitCode()}
	}
	if r := rt("run", "--detach", "--bundle", b, id); r.code != 0 {
		t.Fatalf("sandbox-runc run: %s", r)
	}
	t.Cleanup(func() { rt("delete", "--force", id) })
	return rt
}

// TestOCIExecCwd: exec's working directory comes from its caller's
// process.json or --cwd; a /proc link to an open file (init's descriptors,
// init's root or cwd, the process's own) is refused, never followed to
// what it names.
func TestOCIExecCwd(t *testing.T) {
	rt := ociContainer(t, "cwd")
	cwds := []string{"/proc/self/cwd", "/proc/self/root", "/proc/1/root", "/proc/1/cwd", "/proc/self/root/../../.."}
	for fd := 0; fd < 10; fd++ {
		cwds = append(cwds, "/proc/self/fd/"+strconv.Itoa(fd), "/proc/1/fd/"+strconv.Itoa(fd))
	}
	for _, cwd := range cwds {
		r := rt("exec", "--cwd", cwd, "cwd", "/usr/bin/sh", "-c", "pwd; ls -a")
		if r.code == 0 {
			t.Errorf("ESCAPE? exec --cwd %s ran: %s", cwd, r)
		} else if !strings.Contains(r.stderr, "working directory") {
			t.Errorf("exec --cwd %s: refused for another reason than its working directory: %s", cwd, r)
		}
	}
	if r := rt("exec", "--cwd", "/tmp", "cwd", "/usr/bin/pwd"); r.code != 0 || r.stdout != "/tmp\n" {
		t.Errorf("exec --cwd /tmp: %s", r)
	}
}

// TestOCIExecInit: the exec'd process holds only its stdio, cannot reach
// init's descriptors, memory or root through /proc (init is not dumpable),
// cannot ptrace or kill it, and gets no capability the container lacks.
func TestOCIExecInit(t *testing.T) {
	rt := ociContainer(t, "init")
	created := "escapee-was-here-" + token()
	r := rt("exec", "init", "/x/"+filepath.Base(escapee), "fds", created)
	checkOwnFDs(t, "exec", r)
	// Root inside may list the numbers (init is root inside too, as in
	// fds_test's root modes); only opening one would reach what it is.
	checkFDPaths(t, "exec", r)
	r = rt("exec", "init", "/x/"+filepath.Base(escapee), "init")
	expect(t, r, "exec: ", map[string][]string{
		"ptrace-seize:1":        {"EPERM"},
		"openrw:/proc/1/mem":    {"EACCES", "EPERM"},
		"read:/proc/1/environ":  {"EACCES", "EPERM"},
		"readlink:/proc/1/root": {"EACCES", "EPERM"},
		"list:/proc/1/root":     {"EACCES", "EPERM"},
		"list:/proc/1/fd":       {"EACCES", "EPERM", "OK"},
		"openw:/proc/1/fd/4":    {"EACCES", "EPERM"},
	})
	// SIGKILL to PID 1 from inside is dropped, and init absorbs the
	// signals Go would crash on: the container keeps running. (SIGTERM
	// would reach the command, as from outside: a process in the
	// container may end the command anyway.)
	rt("exec", "init", "/usr/bin/sh", "-c", "kill -KILL 1; kill -SEGV 1; kill -ABRT 1; kill -SYS 1")
	if r := rt("state", "init"); !strings.Contains(r.stdout, `"running"`) {
		t.Errorf("ESCAPE: a signal from an exec'd process ended init: %s", r)
	}
	// Capabilities: only within the container's bounding set, whatever
	// process.json asks; CAP_SYS_PTRACE never.
	proc := filepath.Join(t.TempDir(), "process.json")
	for _, c := range []struct {
		caps []string
		want string
	}{
		{[]string{"CAP_SYS_ADMIN", "CAP_KILL", "CAP_DAC_OVERRIDE"}, "CapBnd:\t0000000000000020\n"},
		{[]string{"CAP_SYS_PTRACE"}, ""},
	} {
		p, _ := json.Marshal(map[string]any{
			"args": []string{"/usr/bin/grep", "CapBnd", "/proc/self/status"}, "cwd": "/", "env": []string{"PATH=/usr/bin"},
			"user": map[string]any{"uid": 0, "gid": 0}, "capabilities": map[string]any{"bounding": c.caps, "effective": c.caps, "permitted": c.caps},
		})
		writeFile(t, proc, string(p), 0o644)
		r := rt("exec", "--process", proc, "init")
		if c.want == "" && (r.code == 0 || !bytes.Contains([]byte(r.stderr), []byte("CAP_SYS_PTRACE"))) {
			t.Errorf("exec asking for %v: want a refusal naming it, got %s", c.caps, r)
		}
		if c.want != "" && (r.code != 0 || r.stdout != c.want) {
			t.Errorf("exec asking for %v: got %s, want %q", c.caps, r, c.want)
		}
	}
}
