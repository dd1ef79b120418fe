package escape

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Descriptors (runc CVE-2024-21626, a leaked host directory fd): the command
// holds 0, 1 and 2 only, even when sandbox itself was started with more open
// and inheritable (a directory, both ends of a pipe, a file); and none of
// those is within its reach through init (/proc/1/fd), where the designed
// answer is EACCES.
func TestLeakedFDs(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		outside := workdir(t) // a host directory the sandbox does not bind writable
		leakFile := filepath.Join(outside, "leaked-file")
		writeFile(t, leakFile, "leaked\n", 0o644)
		guard(t, outside)
		dirfd, err := syscall.Open(outside, syscall.O_RDONLY|syscall.O_DIRECTORY, 0) // no O_CLOEXEC: it is inherited
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(dirfd)
		filefd, err := syscall.Open(leakFile, syscall.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(filefd)
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(p[0])
		defer syscall.Close(p[1])

		var pst syscall.Stat_t
		if err := syscall.Fstat(p[0], &pst); err != nil {
			t.Fatal(err)
		}
		leakedPipe := fmt.Sprintf("pipe:[%d]", pst.Ino)

		created := "created-through-init-" + token()
		// The directory last: sandbox's own descriptors for init (3 and 4)
		// would cover it at a low number.
		out := forkExecSandbox(t, []uintptr{uintptr(p[0]), uintptr(p[1]), uintptr(filefd), uintptr(dirfd)},
			m.with("--", escapee, "fds", created)...)
		checkOwnFDs(t, m.name, out)
		// Root inside may list the numbers (init is root inside too); only
		// opening one would reach what it is.
		if got := out.get("list:/proc/1/fd"); got != "EACCES" && (m.name == defaultMode.name || got != "OK") {
			t.Errorf("%s: init's descriptors are listable from the command (%s), want EACCES:\n%s", m.name, got, out)
		}
		checkFDPaths(t, m.name, out)
		for _, l := range strings.Split(out.stdout, "\n") {
			if strings.HasPrefix(l, "initfd ") && (strings.Contains(l, outside) || strings.Contains(l, leakedPipe)) {
				t.Errorf("%s: a descriptor sandbox inherited from its caller is still open in init (and reachable as /proc/1/fd/N): %q", m.name, l)
			}
		}
		if _, err := os.Lstat(filepath.Join(outside, created)); err == nil {
			t.Errorf("%s: ESCAPE: the command created %s on the host, through /proc/1/fd", m.name, filepath.Join(outside, created))
		}
	}, defaultMode, rootAll)
}

// checkOwnFDs wants escapee's own descriptors to be 0, 1, 2 and the one it
// listed them with.
func checkOwnFDs(t *testing.T, mode string, r result) {
	t.Helper()
	var fds []string
	listed := false
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "fd":
			fds = append(fds, f[1])
			if f[1] != "0" && f[1] != "1" && f[1] != "2" {
				t.Errorf("%s: the command holds fd %s (%s)", mode, f[1], strings.Join(f[2:], " "))
			}
		case len(f) == 2 && f[0] == "listing":
			listed = true
		}
	}
	if len(fds) != 3 || !listed {
		t.Errorf("%s: the command's descriptors are %v (listing fd seen: %v), want 0 1 2:\n%s", mode, fds, listed, r)
	}
}

// forkExecSandbox starts sandbox with syscall.ForkExec, passing extra as its
// fds 3, 4, ... without close-on-exec, and waits for it.
func forkExecSandbox(t *testing.T, extra []uintptr, args ...string) result {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	marker := "ESCAPE_RUN=" + token()
	files := append([]uintptr{null.Fd(), outW.Fd(), errW.Fd()}, extra...)
	pid, err := syscall.ForkExec(bin, append([]string{bin}, args...), &syscall.ProcAttr{
		Dir: workdir(t), Env: append(os.Environ(), marker), Files: files,
	})
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	var stdout, stderr bytes.Buffer
	copied := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(&stdout, outR); copied <- struct{}{} }()
	go func() { _, _ = io.Copy(&stderr, errR); copied <- struct{}{} }()
	var ws syscall.WaitStatus
	waited := make(chan error, 1)
	go func() { _, err := syscall.Wait4(pid, &ws, 0, nil); waited <- err }()
	select {
	case err = <-waited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-waited
		t.Fatalf("sandbox %q: timed out", args)
	}
	<-copied
	<-copied
	outR.Close()
	errR.Close()
	noneLeft(t, marker)
	if err != nil {
		t.Fatalf("wait for sandbox: %v", err)
	}
	r := result{stdout.String(), stderr.String(), ws.ExitStatus()}
	if r.code != 0 {
		t.Fatalf("sandbox %q: %s", args, r)
	}
	return r
}
