package oci

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sandbox/tests/feature"
)

// hostFeatures are the suites' common probes (sub-IDs for the user
// namespace containerd runs in).
var hostFeatures = feature.New(feature.Probes())

// TestContainerd runs containerd rootless, as rootlesskit's
// containerd-rootless.sh does minus its network: as root of a user namespace
// that maps the user's sub-IDs, with a mount namespace whose /run is its own
// (the runc shim keeps its sockets under /run/containerd). ctr then runs
// containers through the runc shim (io.containerd.runc.v2) with sandbox-runc
// as the shim's binary: --runc-binary sets the same BinaryName option a
// config.toml's runtime section does. No cgroup path (--cgroup ""), as
// rootless containerd on cgroup v1 must. The exit status passes through
// the shim; our lock-down is on inside; exec joins a running container.
func TestContainerd(t *testing.T) {
	requires(t, UserNS, Busybox, Containerd)
	hostFeatures.Requires(t, feature.SubIDs)
	b := bundle(t, []string{"true"}, nil)
	dir := t.TempDir()
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "sock"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each step prints its marker and ctr's exit status; containerd's log
	// goes to a file of its own.
	script := `set -u
d=$1 rt=$2 rootfs=$3
mount -t tmpfs tmpfs /run || exit 90
# The shim writes exec's process.json under XDG_RUNTIME_DIR, which the
# tmpfs hid.
export XDG_RUNTIME_DIR=/run/user/0
mkdir -p "$XDG_RUNTIME_DIR"
containerd -c "$d/config.toml" >"$d/containerd.log" 2>&1 &
for i in $(seq 100); do [ -S "$d/sock" ] && break; sleep 0.1; done
c() { ctr -a "$d/sock" "$@"; }
run() { c run --cgroup "" --rootfs --runc-binary "$rt" "$@"; }
run --rm "$rootfs" c1 sh -c 'echo hello; grep NoNewPrivs /proc/self/status; exit 3'
echo "run-exit=$?"
run -d "$rootfs" c2 sleep 60 >/dev/null
echo "detach-exit=$?"
c task exec --exec-id e1 c2 sh -c '[ -e /bin/busybox ] && [ ! -e /usr ] && echo exec inside; exit 4'
echo "exec-exit=$?"
c task kill -s KILL c2
for i in $(seq 50); do c task ls | grep -q 'c2.*STOPPED' && break; sleep 0.1; done
c task ls | grep c2
c task delete c2 && c container delete c2
echo "delete-exit=$?"
`
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// A PID namespace of its own: when unshare (its init's parent) dies,
	// containerd, the shims and the containers die with it. Its own /proc:
	// the shim writes its oom_score_adj by its PID as it sees it.
	cmd := exec.Command("unshare", "--map-auto", "--map-root-user", "--mount", "--propagation", "private",
		"--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script, "sh", dir, runtime, filepath.Join(b, "rootfs"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		err = fmt.Errorf("timed out: %w", <-done)
	}
	text, _ := os.ReadFile(out.Name())
	logs, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
	s := string(text)
	fail := func(what string) {
		t.Helper()
		t.Fatalf("%s\noutput (%v):\n%s\ncontainerd's log:\n%s", what, err, s, logs)
	}
	if !strings.Contains(s, "run-exit=3") || !strings.Contains(s, "hello\n") {
		fail("ctr run: want hello and exit 3 passed through the shim")
	}
	if !strings.Contains(s, "NoNewPrivs:\t1") {
		fail("ctr run: no_new_privs is not set inside")
	}
	if !strings.Contains(s, "detach-exit=0") {
		fail("ctr run -d failed")
	}
	if !strings.Contains(s, "exec inside\n") || !strings.Contains(s, "exec-exit=4") {
		fail("ctr task exec: want it in the container's root, and exit 4")
	}
	// 137: the shim, init's reaper, read its status (SIGKILL).
	if !strings.Contains(s, "STOPPED") || !strings.Contains(s, "exit code 137") || !strings.Contains(s, "delete-exit=0") {
		fail("ctr task kill and delete")
	}
}
