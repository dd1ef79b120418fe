package oci

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodmanNetwork: podman's default rootless network, slirp4netns, gives
// the runtime a network namespace by path, which sandbox-runc joins: a
// server inside answers on a published port (-p). --memory is honoured or
// refused as with runc rootless on this host: podman drops it on cgroup v1
// (hybrid hosts) with a warning, and the run succeeds.
func TestPodmanNetwork(t *testing.T) {
	requires(t, UserNS, Busybox, Podman)
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Fatalf("slirp4netns: %v (apt install slirp4netns)", err)
	}
	b := bundle(t, []string{"true"}, nil)
	tarball := filepath.Join(t.TempDir(), "busybox.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(b, "rootfs"), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	image := fmt.Sprintf("localhost/sandbox-oci-net:%d", time.Now().UnixNano())
	podman := func(args ...string) *exec.Cmd {
		return exec.Command("podman", append([]string{"--cgroup-manager=cgroupfs", "--events-backend=file"}, args...)...)
	}
	if out, err := podman("import", tarball, image).CombinedOutput(); err != nil {
		t.Fatalf("podman import: %v: %s", err, out)
	}
	defer podman("rmi", "-f", image).Run()

	// A free port on the host, for -p.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := podman("--runtime", runtime, "run", "--rm", "--network=slirp4netns", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port),
		image, "sh", "-c", "echo hello from the container | busybox nc -l -p 8080")
	var serr strings.Builder
	srv.Stderr = &serr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		if got = string(buf[:n]); got != "" {
			break
		}
	}
	if got != "hello from the container\n" {
		t.Fatalf("read %q from the published port, want the container's greeting; podman: %s", got, serr.String())
	}

	out, err := podman("--runtime", runtime, "run", "--rm", "--network=none", "--memory", "64m", image, "true").CombinedOutput()
	if err != nil {
		t.Fatalf("podman run --memory 64m: %v: %s", err, out)
	}
}
