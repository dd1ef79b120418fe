package userns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// OCI hooks (config.json's hooks; sandbox-runc only). The runtime runs
// prestart, createRuntime, poststart and poststop itself, in its own
// namespaces (package ociruntime); init runs the two that belong in the
// container's namespaces:
//
//	createContainer  in init, before pivot_root (so before any mount of
//	                 the plan): the container's namespaces, the runtime's
//	                 tree, init's privileges. Its path is the runtime's, a
//	                 program the caller chose (runtime-spec: "path MUST
//	                 resolve in the runtime namespace").
//	startContainer   in init once start asks, before the command's exec:
//	                 the container's namespaces and root, and the command's
//	                 lock-down (its user, capabilities, no_new_privs and
//	                 seccomp). Its path resolves in the container's root, so
//	                 the program comes from the image: it gets no more than
//	                 the command will (with init's capabilities it could
//	                 ptrace init or undo the masks over /proc).

// Hooks are the hooks init runs, and the state they read on stdin.
type Hooks struct {
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	StartContainer  []specs.Hook `json:"startContainer,omitempty"`
	// State is the container's state (runtime-spec "State"), with init's
	// PID as the runtime knows it (the parent fills it in); init sets the
	// status.
	State specs.State `json:"state"`
}

// hookOutputMax bounds what a hook's output adds to an error message.
const hookOutputMax = 512

// RunHook runs one hook as runtime-spec says: h.Path with h.Args (argv[0]
// included) and exactly h.Env, the state as JSON on stdin, killed after
// h.Timeout seconds. A non-zero exit is an error carrying the end of what
// the hook wrote. attr, if set, is the process's SysProcAttr.
func RunHook(ctx context.Context, kind string, h specs.Hook, state specs.State, attr *syscall.SysProcAttr) error {
	in, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hook %s: encode state: %w", kind, h.Path, err)
	}
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("%s hook %s: timeout %d: must be above 0", kind, h.Path, *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := &exec.Cmd{Path: h.Path, Args: args, Env: h.Env, Stdin: bytes.NewReader(in), SysProcAttr: attr}
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would be our own environment
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s hook %s: %w", kind, h.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s hook %s: timed out after %d s", kind, h.Path, *h.Timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > hookOutputMax {
			msg = "..." + msg[len(msg)-hookOutputMax:]
		}
		if msg != "" {
			return fmt.Errorf("%s hook %s: %w: %s", kind, h.Path, err, strings.ReplaceAll(msg, "\n", "; "))
		}
		return fmt.Errorf("%s hook %s: %w", kind, h.Path, err)
	}
	return nil
}

// runHooks runs hooks in order; the first failure ends the list.
func runHooks(kind string, hooks []specs.Hook, state specs.State, attr *syscall.SysProcAttr) error {
	for _, h := range hooks {
		if err := RunHook(context.Background(), kind, h, state, attr); err != nil {
			return err
		}
	}
	return nil
}

// createContainerHooks runs config.json's createContainer hooks from init.
//
// Preconditions: before setupRoot (pivot_root); OS thread locked (init's:
// the hooks are forked from it and share its namespaces).
func createContainerHooks(cfg *Config) error {
	if cfg.Hooks == nil || len(cfg.Hooks.CreateContainer) == 0 {
		return nil
	}
	st := cfg.Hooks.State
	st.Status = specs.StateCreating
	return runHooks("createContainer", cfg.Hooks.CreateContainer, st, nil)
}

// startContainerHooks runs config.json's startContainer hooks, each under
// the command's lock-down, on a thread of its own that is thrown away
// after: capabilities, no_new_privs and seccomp are the thread's for good,
// and init's main thread still needs its own to fork the command.
//
// Preconditions: in the new root, working directory entered.
func startContainerHooks(cfg *Config) error {
	if cfg.Hooks == nil || len(cfg.Hooks.StartContainer) == 0 {
		return nil
	}
	st := cfg.Hooks.State
	st.Status = specs.StateCreated
	done := make(chan error, 1)
	tid := make(chan int, 1)
	go func() {
		// Never unlocked: the goroutine's end ends the thread, and its
		// lowered privileges with it.
		runtime.LockOSThread()
		tid <- unix.Gettid()
		if err := lockDown(cfg); err != nil {
			done <- fmt.Errorf("startContainer hooks: lock down: %w", err)
			return
		}
		attr := &syscall.SysProcAttr{Credential: procAttr(cfg).Sys.Credential, Setsid: true}
		for _, h := range cfg.Hooks.StartContainer {
			if err := checkExec(h.Path); err != nil {
				done <- fmt.Errorf("startContainer hook %s inside the container: %w", h.Path, err)
				return
			}
		}
		done <- runHooks("startContainer", cfg.Hooks.StartContainer, st, attr)
	}()
	t := <-tid
	err := <-done
	// Gone before init goes on: the seccomp filters of init's threads
	// are synchronised later (TSYNC), which fails while a thread with a
	// filter of its own is left.
	for i := 0; i < 1000; i++ {
		if unix.Tgkill(unix.Getpid(), t, 0) != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return err
}
