package oci

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sandbox/tests/feature"
)

// hookState is what a hook read on stdin.
type hookState struct {
	ID, Status, Bundle string
	Pid                int
}

// TestHooks: all six hooks run, each with the state on stdin and its own
// env, at the step runtime-spec gives it; createContainer runs in the
// container's namespaces, prestart in the runtime's; poststop on delete.
func TestHooks(t *testing.T) {
	out := t.TempDir()
	hook := func(kind string) map[string]any {
		// The runtime's /bin/sh: every hook but startContainer.
		return map[string]any{"path": "/bin/sh", "env": []string{"KIND=" + kind},
			"args": []string{"sh", "-c", `cat > ` + out + `/$KIND.json; readlink /proc/self/ns/mnt > ` + out + `/$KIND.mnt`}}
	}
	b := bundle(t, []string{"sleep", "60"}, func(cfg map[string]any) {
		cfg["hooks"] = map[string]any{
			"prestart": []any{hook("prestart")}, "createRuntime": []any{hook("createRuntime")},
			"createContainer": []any{hook("createContainer")}, "poststart": []any{hook("poststart")},
			"poststop": []any{hook("poststop")},
			// Resolved in the container's root: its busybox sh, writing
			// where the test can read.
			"startContainer": []any{map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "cat > /hooks/startContainer.json"}}},
		}
		cfg["mounts"] = append(cfg["mounts"].([]any), map[string]any{"destination": "/hooks", "type": "bind", "source": out, "options": []string{"rbind"}})
	})
	if err := os.MkdirAll(filepath.Join(b, "rootfs", "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", b, "--pid-file", pidFile, "h")
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	read := func(kind string) *hookState {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, kind+".json"))
		if err != nil {
			return nil
		}
		var s hookState
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s hook's stdin %q: %v", kind, data, err)
		}
		return &s
	}
	check := func(kind, status string, wantPid int) {
		t.Helper()
		s := read(kind)
		if s == nil {
			t.Fatalf("%s hook did not run (or read no state)", kind)
		}
		if s.ID != "h" || s.Status != status || s.Pid != wantPid || s.Bundle != b {
			t.Fatalf("%s hook read %+v; want id h, status %s, pid %d, bundle %s", kind, *s, status, wantPid, b)
		}
	}
	check("prestart", "creating", pid)
	check("createRuntime", "creating", pid)
	check("createContainer", "creating", pid)
	if read("startContainer") != nil || read("poststart") != nil {
		t.Fatal("startContainer or poststart ran at create")
	}
	mnt := func(kind string) string { b, _ := os.ReadFile(filepath.Join(out, kind+".mnt")); return string(b) }
	self, _ := os.Readlink("/proc/self/ns/mnt")
	if mnt("prestart") != self+"\n" || mnt("createContainer") == mnt("prestart") || mnt("createContainer") == "" {
		t.Fatalf("mount namespaces: prestart %q, createContainer %q, ours %q; want prestart in ours, createContainer in the container's", mnt("prestart"), mnt("createContainer"), self)
	}
	mustRT(t, root, "start", "h")
	check("startContainer", "created", pid)
	check("poststart", "running", pid)
	if read("poststop") != nil {
		t.Fatal("poststop ran before delete")
	}
	mustRT(t, root, "kill", "h", "KILL")
	waitStatus(t, pid)
	mustRT(t, root, "delete", "h")
	check("poststop", "stopped", 0)
}

// TestHookFailures: a failing prestart or createContainer hook fails
// create (nothing left running, no state), a hook past its timeout is
// killed, a failing startContainer hook fails start, and a failing
// poststart hook only warns.
func TestHookFailures(t *testing.T) {
	fail := map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "echo hook says no >&2; exit 3"}}
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			b := bundle(t, []string{"true"}, func(cfg map[string]any) { cfg["hooks"] = map[string]any{kind: []any{fail}} })
			root := t.TempDir()
			r := rt(t, root, "create", "--bundle", b, "c")
			if r.code == 0 || !strings.Contains(r.stderr, kind+" hook /bin/sh") || !strings.Contains(r.stderr, "hook says no") {
				t.Fatalf("create with a failing %s hook: exit %d, %q; want a failure naming the hook and its words", kind, r.code, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(root, "c")); !os.IsNotExist(err) {
				t.Fatalf("failed create left its state: %v", err)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		one := 1
		b := bundle(t, []string{"true"}, func(cfg map[string]any) {
			cfg["hooks"] = map[string]any{"prestart": []any{map[string]any{"path": "/bin/sleep", "args": []string{"sleep", "20"}, "timeout": one}}}
		})
		start := time.Now()
		r := rt(t, t.TempDir(), "create", "--bundle", b, "c")
		if r.code == 0 || !strings.Contains(r.stderr, "timed out") || time.Since(start) > 10*time.Second {
			t.Fatalf("prestart hook past its timeout: exit %d after %v, %q; want a failure within seconds", r.code, time.Since(start), r.stderr)
		}
	})
	t.Run("startContainer", func(t *testing.T) {
		b := bundle(t, []string{"sleep", "60"}, func(cfg map[string]any) {
			cfg["hooks"] = map[string]any{"startContainer": []any{fail}}
		})
		root := t.TempDir()
		pidFile := filepath.Join(t.TempDir(), "pid")
		mustRT(t, root, "create", "--bundle", b, "--pid-file", pidFile, "c")
		data, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(string(data))
		if r := rt(t, root, "start", "c"); r.code == 0 || !strings.Contains(r.stderr, "startContainer hook") {
			t.Fatalf("start with a failing startContainer hook: exit %d, %q", r.code, r.stderr)
		}
		if code := waitStatus(t, pid); code != 125 {
			t.Fatalf("init's status after a failed startContainer hook: %d, want 125 (the command never ran)", code)
		}
		mustRT(t, root, "delete", "c")
	})
	t.Run("poststart", func(t *testing.T) {
		b := bundle(t, []string{"sh", "-c", "exit 4"}, func(cfg map[string]any) {
			cfg["hooks"] = map[string]any{"poststart": []any{fail}}
		})
		log := filepath.Join(t.TempDir(), "log.json")
		r := rt(t, t.TempDir(), "--log", log, "--log-format", "json", "run", "--bundle", b, "c")
		data, _ := os.ReadFile(log)
		if r.code != 4 || !strings.Contains(string(data), `"level":"warning"`) || !strings.Contains(string(data), "poststart hook") {
			t.Fatalf("run with a failing poststart hook: exit %d, log %s; want 4 and a warning", r.code, data)
		}
	})
}

// TestPreserveFds: --preserve-fds 1 gives the command the caller's fd 3 as
// its 3 (and not fd 4); init keeps no copy once the command has it (the
// pipe's reader sees its end when the command closes it).
func TestPreserveFds(t *testing.T) {
	b := bundle(t, []string{"sh", "-c", "echo via3 >&3; exec 3>&-; if echo leak >&4; then echo fd4-open; fi; sleep 30"}, nil)
	root := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	other, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	outFile := filepath.Join(t.TempDir(), "out")
	stdout, _ := os.Create(outFile)
	defer stdout.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(runtime, "--root", root, "create", "--preserve-fds", "1", "--bundle", b, "--pid-file", pidFile, "p")
	cmd.ExtraFiles = []*os.File{pw, other}
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(outFile)
		t.Fatalf("create --preserve-fds 1: %v: %s", err, data)
	}
	pw.Close()
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	defer func() { rt(t, root, "kill", "p", "KILL"); waitStatus(t, pid); rt(t, root, "delete", "p") }()
	mustRT(t, root, "start", "p")
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(pr); got <- string(b) }()
	select {
	case s := <-got:
		if s != "via3\n" {
			t.Fatalf("read from the preserved pipe: %q, want via3", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the preserved pipe did not close: init (or create) kept a copy")
	}
	time.Sleep(200 * time.Millisecond)
	if data, _ := os.ReadFile(outFile); strings.Contains(string(data), "fd4-open") {
		t.Fatalf("the command got fd 4, beyond --preserve-fds 1: %s", data)
	}
	if r := rt(t, root, "create", "--preserve-fds", "3", "--bundle", b, "q"); r.code == 0 || !strings.Contains(r.stderr, "not open") {
		t.Fatalf("--preserve-fds naming closed descriptors: exit %d, %q", r.code, r.stderr)
	}
}

// TestResourcesRootless: limits the host cannot give us (here cgroup2 has
// no controllers) are one warning in the log, and the container runs, as
// runc does rootless; with --systemd-cgroup the container is in the scope
// cgroupsPath names all the same.
func TestResourcesRootless(t *testing.T) {
	limits := func(cfg map[string]any) {
		lin := cfg["linux"].(map[string]any)
		lin["resources"] = map[string]any{"memory": map[string]any{"limit": 64 << 20}, "pids": map[string]any{"limit": 100}}
		lin["cgroupsPath"] = "app.slice:ocitest:" + fmt.Sprint(time.Now().UnixNano())
	}
	for _, systemd := range []bool{false, true} {
		t.Run(fmt.Sprint("systemd=", systemd), func(t *testing.T) {
			if systemd {
				hostFeatures.Requires(t, feature.UserBus)
			}
			b := bundle(t, []string{"sleep", "60"}, limits)
			log := filepath.Join(t.TempDir(), "log.json")
			args := []string{"--log", log, "--log-format", "json"}
			if systemd {
				args = append(args, "--systemd-cgroup")
			}
			root := t.TempDir()
			pidFile := filepath.Join(t.TempDir(), "pid")
			r := rt(t, root, append(args, "create", "--pid-file", pidFile, "--bundle", b, "c")...)
			data, _ := os.ReadFile(log)
			if r.code != 0 {
				t.Fatalf("create with limits: exit %d, %s; log %s", r.code, r.stderr, data)
			}
			p, _ := os.ReadFile(pidFile)
			pid, _ := strconv.Atoi(string(p))
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			// Where the scope has the controllers (a unified cgroup v2
			// machine whose manager delegates them: the VM job), the limits
			// are set there; where not (this project's CI host), one warning.
			own, _ := os.ReadFile("/proc/self/cgroup")
			var memMax, pidsMax []byte
			if at := unifiedPath(string(cg)); at != unifiedPath(string(own)) {
				// Init sits in a leaf below the cgroup that holds the limits
				// (the scope's root may hold no process once it enables
				// controllers for its children).
				dir := filepath.Dir(filepath.Join(feature.Cgroup2Root(), at))
				memMax, _ = os.ReadFile(filepath.Join(dir, "memory.max"))
				pidsMax, _ = os.ReadFile(filepath.Join(dir, "pids.max"))
			}
			held := memMax != nil && pidsMax != nil
			t.Logf("init's cgroup %q (the test's %q); memory.max %q, pids.max %q; log %s", unifiedPath(string(cg)), unifiedPath(string(own)), memMax, pidsMax, data)
			if systemd && !held && os.Getenv("SANDBOX_TESTS_ENFORCE") == "1" {
				t.Errorf("SANDBOX_TESTS_ENFORCE=1, but the scope has no memory.max and pids.max")
			}
			mustRT(t, root, "start", "c")
			mustRT(t, root, "kill", "c", "KILL")
			waitStatus(t, pid)
			mustRT(t, root, append(args, "delete", "c")...)
			switch n := strings.Count(string(data), "linux.resources"); {
			case held && (string(memMax) != "67108864\n" || string(pidsMax) != "100\n"):
				t.Fatalf("the scope's memory.max %q, pids.max %q; want 67108864 and 100", memMax, pidsMax)
			case held && n != 0:
				t.Fatalf("log: %s; want no warning where the limits are held", data)
			case !held && (n != 1 || !strings.Contains(string(data), `"level":"warning"`)):
				t.Fatalf("log: %s; want one warning about linux.resources", data)
			}
			if systemd && !strings.Contains(string(cg), "/app.slice/ocitest-") {
				t.Fatalf("with --systemd-cgroup init is in %q, not the scope ocitest-*.scope of app.slice", cg)
			}
		})
	}
}

// TestJoinNamespaces: a network and an IPC namespace made by the test user
// (unshare -Urni, as podman makes slirp4netns's) are joined by path when
// sandbox-runc runs as root of the user namespace that owns them (as
// podman runs it): the container is in that network namespace, sees its
// dummy interface, has the net sysctl the config asked for (written from
// outside: the container's own user namespace has no rights there), and
// gets no mqueue (one warning). Run as the plain user, the kernel refuses
// the join, in one line.
func TestJoinNamespaces(t *testing.T) {
	holder := exec.Command("unshare", "-Urni", "sh", "-c", "ip link add sbdummy0 type dummy && echo dummy; echo ready; exec sleep 60")
	hout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare -Urni: %v", err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	var said strings.Builder
	for br := bufio.NewReader(hout); !strings.HasSuffix(said.String(), "ready\n"); {
		line, err := br.ReadString('\n')
		said.WriteString(line)
		if err != nil {
			t.Fatalf("unshare -Urni: %v: %q", err, said.String())
		}
	}
	dummy := strings.HasPrefix(said.String(), "dummy")
	hpid := fmt.Sprint(holder.Process.Pid)
	netns, err := os.Readlink("/proc/" + hpid + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	b := bundle(t, []string{"sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev; cat /proc/sys/net/ipv4/ping_group_range"}, func(cfg map[string]any) {
		lin := cfg["linux"].(map[string]any)
		var ns []any
		for _, n := range lin["namespaces"].([]any) {
			switch n.(map[string]any)["type"] {
			case "network":
				n = map[string]any{"type": "network", "path": "/proc/" + hpid + "/ns/net"}
			case "ipc":
				n = map[string]any{"type": "ipc", "path": "/proc/" + hpid + "/ns/ipc"}
			case "user":
				continue // as podman's: our IDs are those of the user namespace we run in
			}
			ns = append(ns, n)
		}
		lin["namespaces"] = ns
		delete(lin, "uidMappings")
		delete(lin, "gidMappings")
		lin["sysctl"] = map[string]string{"net.ipv4.ping_group_range": "0 0"}
	})
	run := func(prefix ...string) (string, string, string, int) {
		t.Helper()
		root := t.TempDir()
		log := filepath.Join(t.TempDir(), "log.json")
		args := append(prefix, runtime, "--root", root, "--log", log, "--log-format", "json", "run", "--bundle", b, "j")
		cmd := exec.Command(args[0], args[1:]...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		data, _ := os.ReadFile(log)
		return out.String(), errb.String(), string(data), cmd.ProcessState.ExitCode()
	}
	// Root of the user namespace that owns them, as podman runs its runtime.
	out, stderr, log, code := run("nsenter", "-t", hpid, "-U", "--preserve-credentials")
	if code != 0 {
		t.Fatalf("run joining %s: exit %d: %s; log %s", netns, code, stderr, log)
	}
	if !strings.HasPrefix(out, netns+"\n") {
		t.Fatalf("the container is in %q, want %s", strings.SplitN(out, "\n", 2)[0], netns)
	}
	if dummy && !strings.Contains(out, "sbdummy0") {
		t.Fatalf("the joined namespace's dummy interface is not seen inside:\n%s", out)
	}
	if !strings.HasSuffix(out, "0\t0\n") {
		t.Fatalf("net.ipv4.ping_group_range inside: %q, want the config's 0 0", out)
	}
	if !strings.Contains(log, "mqueue") || !strings.Contains(log, `"level":"warning"`) {
		t.Fatalf("log: %s; want a warning that the joined IPC namespace gets no mqueue", log)
	}
	// The plain user has no right to join them (CAP_SYS_ADMIN in our own
	// user namespace): refused by the kernel, said in one line.
	_, stderr, _, code = run()
	if code != 1 || !strings.Contains(stderr, "operation not permitted") || !strings.Contains(stderr, "where sandbox-runc is root") ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("run joining as the plain user: exit %d, %q; want 1 and one line naming the fix", code, stderr)
	}
}

// unifiedPath is the cgroup v2 path in a /proc/PID/cgroup.
func unifiedPath(cg string) string {
	for _, l := range strings.Split(cg, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}
