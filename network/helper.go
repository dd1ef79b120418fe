package network

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// startReady starts cmd, a helper that signals readiness by writing a byte to
// a ready pipe and quits when an exit pipe reads EOF (slirp4netns's -r and -e,
// sandbox-netstack's fds 4 and 5), and waits until it is ready. extra are the
// helper's first descriptors (from fd 3); the ready pipe's write end and the
// exit pipe's read end follow them. It returns the helper's stop function.
//
// Why both pipes: the exit pipe's write end is ours alone, so the kernel
// closes it when we die, even by SIGKILL, and the helper then quits; the
// Pdeathsig set here covers the moments before it reads the pipe.
func startReady(ctx context.Context, name string, cmd *exec.Cmd, extra ...*os.File) (stop func() error, err error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create ready pipe: %w", err)
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, fmt.Errorf("create exit pipe: %w", err)
	}
	defer exitR.Close()
	cmd.ExtraFiles = append(extra, readyW, exitR)
	// Its last words, for the error if it fails before it is ready.
	var said tail
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	cmd.Stderr = io.MultiWriter(cmd.Stderr, &said)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop = func() error {
		exitW.Close()
		_ = cmd.Process.Kill()
		<-exited
		return nil
	}
	ready := make(chan error, 1)
	go func() {
		_, err := readyR.Read(make([]byte, 1))
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return stop, nil
		}
		// EOF without the byte: it exits on an error.
	case <-exited:
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	stop()
	if last := said.lastLine(); last != "" {
		return nil, fmt.Errorf("%s exited before it was ready: %s", name, last)
	}
	return nil, fmt.Errorf("%s exited before it was ready (run with --verbose to see its output): %v", name, waitErr)
}

// tail keeps the last bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 1024 {
		t.buf = t.buf[len(t.buf)-1024:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
