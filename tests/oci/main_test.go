// Package oci drives sandbox-runc from outside, as podman (through conmon)
// and containerd's runc shim do: a bundle whose root is a busybox-static
// userland, create → state → start → kill → delete, run, the JSON log, and
// podman itself where it is installed.
package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/tests/feature"
)

// runtime is sandbox-runc: a link to the sandbox binary built by TestMain.
var runtime string

func TestMain(m *testing.M) {
	// A subreaper, as conmon and containerd's shim are: the container's
	// init, orphaned when create exits, becomes our child, and its exit
	// status (the command's) is ours to read.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	dir, err := os.MkdirTemp("", "sandbox-oci-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/oci:", err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "sandbox"), "../..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tests/oci: build:", err)
		os.Exit(1)
	}
	runtime = filepath.Join(dir, "sandbox-runc")
	if err := os.Symlink("sandbox", runtime); err != nil {
		fmt.Fprintln(os.Stderr, "tests/oci:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type Feature string

const (
	UserNS  Feature = "UserNS"  // unprivileged user namespaces
	Busybox Feature = "Busybox" // a static busybox (Debian's busybox-static) for the rootfs
	Podman  Feature = "Podman"  // podman and conmon, and XDG_RUNTIME_DIR
	// Containerd: containerd, ctr and the runc shim (Debian's containerd).
	Containerd Feature = "Containerd"
)

var features = feature.New(map[Feature]func() error{
	UserNS: func() error {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}
		return cmd.Run()
	},
	Busybox: func() error {
		out, err := exec.Command("file", "-L", "/usr/bin/busybox").Output()
		if err == nil && !bytes.Contains(out, []byte("statically linked")) && !bytes.Contains(out, []byte("static-pie")) {
			return fmt.Errorf("/usr/bin/busybox is not static: %s", out)
		}
		_, serr := os.Stat("/usr/bin/busybox")
		return serr
	},
	Podman: func() error {
		// Rootless podman keeps its state in the runtime directory.
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			return fmt.Errorf("XDG_RUNTIME_DIR is not set")
		}
		for _, p := range []string{"podman", "conmon"} {
			if _, err := exec.LookPath(p); err != nil {
				if _, err2 := os.Stat("/usr/libexec/podman/" + p); err2 != nil {
					return err
				}
			}
		}
		return nil
	},
	Containerd: func() error {
		for _, p := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
			if _, err := exec.LookPath(p); err != nil {
				return fmt.Errorf("%w (Debian: apt install containerd)", err)
			}
		}
		return nil
	},
})

func requires(t *testing.T, fs ...Feature) {
	t.Helper()
	features.Requires(t, fs...)
}

// bundle makes a bundle whose rootfs is busybox and whose config.json is the
// usual rootless one, changed by edit, and returns its directory.
func bundle(t *testing.T, args []string, edit func(cfg map[string]any)) string {
	t.Helper()
	requires(t, UserNS, Busybox)
	dir := t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "true", "sleep", "cat", "echo", "id", "ls", "hostname", "touch", "wc", "grep", "ulimit"} {
		if err := os.Symlink("busybox", filepath.Join(bin, a)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{}
	if err := json.Unmarshal([]byte(fixIDs(baseConfig)), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["process"].(map[string]any)["args"] = args
	if edit != nil {
		edit(cfg)
	}
	out, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// baseConfig is what `runc spec --rootless` gives, shortened.
const baseConfig = `{
 "ociVersion": "1.0.2",
 "process": {"user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
  "capabilities": {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
   "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]},
  "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": true},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "oci-test",
 "mounts": [
  {"destination": "/proc", "type": "proc", "source": "proc"},
  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
  {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
  {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
  {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
  {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
  {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}
 ],
 "linux": {
  "uidMappings": [{"containerID": 0, "hostID": UID, "size": 1}],
  "gidMappings": [{"containerID": 0, "hostID": GID, "size": 1}],
  "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "network"}, {"type": "cgroup"}],
  "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/acpi", "/sys/firmware"],
  "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus"]
 }
}`

// result is what one call of sandbox-runc printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// rt runs sandbox-runc with the state under root, within 30 s.
func rt(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runFiles(t, exec.Command(runtime, append([]string{"--root", root}, args...)...))
}

// runFiles runs cmd within 30 s, its stdout and stderr in files, not pipes:
// the container's init inherits create's stdio and outlives it, so a pipe
// would not close when create exits (conmon does not wait for one either).
func runFiles(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	read := func(f *os.File) string { b, _ := os.ReadFile(f.Name()); return string(b) }
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%q: timed out; stderr: %s", cmd.Args, read(errf))
	}
	return result{read(out), read(errf), cmd.ProcessState.ExitCode()}
}

func mustRT(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := rt(t, root, args...)
	if r.code != 0 {
		t.Fatalf("sandbox-runc %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// state is `state ID`'s status and PID.
func state(t *testing.T, root, id string) (string, int) {
	t.Helper()
	var s struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(mustRT(t, root, "state", id)), &s); err != nil {
		t.Fatalf("state %s: %v", id, err)
	}
	return s.Status, s.Pid
}

// waitStatus waits (as the subreaper) for the container's init and returns
// its exit status.
func waitStatus(t *testing.T, pid int) int {
	t.Helper()
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		done <- ws
	}()
	select {
	case ws := <-done:
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	case <-time.After(20 * time.Second):
		t.Fatalf("init %d did not end", pid)
		return 0
	}
}

// fixIDs puts the caller's own IDs in the one-ID maps.
func fixIDs(s string) string {
	return strings.NewReplacer("UID", fmt.Sprint(os.Getuid()), "GID", fmt.Sprint(os.Getgid())).Replace(s)
}
