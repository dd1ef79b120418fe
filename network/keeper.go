package network

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/userns"
)

// StageKeep is the role of the keeper: a small process of ours, in the host's
// namespaces, that runs pasta as its child and kills it when sandbox is gone.
//
// Why: pasta must join the sandbox's user namespace, and the kernel clears a
// process's parent-death signal when its credentials change, so a pasta
// started with Pdeathsig outlives a SIGKILLed sandbox (it holds the tap, so it
// never sees the namespace go). The keeper changes no credentials; it learns
// of sandbox's death from a pipe whose write end only sandbox holds, which the
// kernel closes when sandbox dies, however it dies. A signal would not do: a
// parent-death SIGKILL would kill the keeper before it could act.
const StageKeep = "keep"

// keep starts the keeper for argv (a helper and its arguments). Closing the
// returned pipe makes the keeper kill the helper and exit.
func keep(argv []string, log io.Writer) (*exec.Cmd, *os.File, error) {
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("create exit pipe: %w", err)
	}
	defer exitR.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{"sandbox-keep"}, argv...),
		Env:        []string{userns.StageEnv + "=" + StageKeep},
		Stdout:     log,
		Stderr:     log,
		ExtraFiles: []*os.File{exitR}, // fd 3
	}
	if err := cmd.Start(); err != nil {
		exitW.Close()
		return nil, nil, fmt.Errorf("start keeper for %s: %w", argv[0], err)
	}
	return cmd, exitW, nil
}

// Keep is the keeper's main: it runs argv and kills it once fd 3 reads EOF.
// It returns the helper's exit status.
func Keep(argv []string) int {
	if len(argv) == 0 {
		return 2
	}
	// The helper's own Pdeathsig (it covers the moments before it joins the
	// namespace) refers to the thread that forked it: keep that one alive.
	runtime.LockOSThread()
	// pasta runs short-lived clones of itself to enter namespaces; one
	// orphaned by its death would go to the host's init, which may reap it
	// late. As a subreaper we get them, and reap (or end) them ourselves.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	exit := os.NewFile(3, "exit")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-keep: %v\n", err)
		return 127
	}
	go func() {
		_, _ = io.Copy(io.Discard, exit)
		_ = cmd.Process.Kill()
	}()
	err := cmd.Wait()
	reapOrphans()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 0
}

// reapOrphans waits for the descendants the helper left us, ending those still
// alive, for at most a second.
func reapOrphans() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR), pid > 0:
			continue
		case err != nil: // ECHILD: none left
			return
		}
		// Some still run: end them.
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, t := range tasks {
			b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					_ = unix.Kill(n, unix.SIGKILL)
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
}
