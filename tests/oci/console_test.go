package oci

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket listens as conmon does for --console-socket and delivers
// the first descriptor received (the pty's master).
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		defer close(ch)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 4096), oob)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return
		}
		// Non-blocking, so that reads can time out.
		_ = unix.SetNonblock(fds[0], true)
		ch <- os.NewFile(uintptr(fds[0]), "master")
	}()
	return path, ch
}

// master waits for the console socket's descriptor.
func master(t *testing.T, ch <-chan *os.File) *os.File {
	t.Helper()
	select {
	case m := <-ch:
		if m == nil {
			t.Fatal("console socket: no descriptor came")
		}
		t.Cleanup(func() { m.Close() })
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("console socket: nothing within 20 s")
		return nil
	}
}

// term is a pty's master and all it has shown so far.
type term struct {
	m   *os.File
	out strings.Builder
}

// expect reads the terminal until want shows (the pty echoes the input too:
// want is what only the output holds).
func (tm *term) expect(t *testing.T, want string) {
	t.Helper()
	b := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tm.out.String(), want) {
		_ = tm.m.SetReadDeadline(deadline)
		n, err := tm.m.Read(b)
		tm.out.Write(b[:n])
		if err != nil {
			t.Fatalf("terminal: %v before %q; read %q", err, want, tm.out.String())
		}
	}
}

// TestConsole: create --console-socket with process.terminal gives the
// command a pty of the container's own devpts as its controlling terminal,
// and sends the master as runc does; exec -t does the same for an exec.
func TestConsole(t *testing.T) {
	b := bundle(t, []string{"sh"}, func(cfg map[string]any) {
		cfg["process"].(map[string]any)["terminal"] = true
	})
	root := t.TempDir()
	if r := rt(t, root, "create", "--bundle", b, "no-console"); r.code == 0 || !strings.Contains(r.stderr, "--console-socket") {
		t.Errorf("create of a terminal without --console-socket: exit %d, %q", r.code, r.stderr)
	}
	sock, ch := consoleSocket(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustRT(t, root, "create", "--bundle", b, "--console-socket", sock, "--pid-file", pidFile, "c")
	m := master(t, ch)
	tm := &term{m: m}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	mustRT(t, root, "start", "c")
	if _, err := m.WriteString("echo hi-$((6*7)); tty; : >/dev/tty && echo ctty-$((1+1))\n"); err != nil {
		t.Fatal(err)
	}
	tm.expect(t, "hi-42")
	tm.expect(t, "/dev/pts/0")
	tm.expect(t, "ctty-2") // /dev/tty opens: the pty is its controlling terminal
	// exec -t: a pty of its own, the same way.
	sock2, ch2 := consoleSocket(t)
	done := make(chan result, 1)
	go func() { done <- rt(t, root, "exec", "-t", "--console-socket", sock2, "c", "sh") }()
	m2 := master(t, ch2)
	if _, err := m2.WriteString("tty; : >/dev/tty && echo exec-ctty-$((2+1)); exit 4\n"); err != nil {
		t.Fatal(err)
	}
	(&term{m: m2}).expect(t, "exec-ctty-3")
	if r := <-done; r.code != 4 {
		t.Errorf("exec -t: exit %d, want 4; stderr %s", r.code, r.stderr)
	}
	if r := rt(t, root, "exec", "-t", "c", "true"); r.code == 0 {
		t.Errorf("exec -t without --console-socket: exit 0")
	}
	if _, err := m.WriteString("exit 5\n"); err != nil {
		t.Fatal(err)
	}
	if code := waitStatus(t, pid); code != 5 {
		t.Errorf("init's status: %d, want 5", code)
	}
	mustRT(t, root, "delete", "c")
}
