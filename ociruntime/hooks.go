package ociruntime

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/userns"
)

// config.json's hooks, as runc runs them. Each gets the container's state
// (runtime-spec "State") as JSON on stdin, exactly its env, and is killed
// after its timeout.
//
//	hook             who runs it, where               when               fails
//	prestart         the runtime, its namespaces      create: namespaces  create
//	createRuntime    the runtime, its namespaces        made, no mount yet create
//	createContainer  init, the container's namespaces before pivot_root   create
//	                 (the runtime's tree, path too)
//	startContainer   init, the container's namespaces start, before the    start
//	                 and root, the command's lock-down  command's exec
//	poststart        the runtime                      start, once it runs  (warns)
//	poststop         the runtime                      delete               (warns)
//
// runc runs prestart and createRuntime once its mounts are made, before
// pivot_root; ours run before init mounts anything (init mounts after
// pivot_root into a tmpfs, so there is no later "before pivot_root"): the
// namespaces, init's PID and the bundle are there for a hook to configure
// (a network hook's /proc/PID/ns/net), the container's mounts not yet.
// init's side is userns/hooks.go.

// checkHooks refuses hooks runtime-spec does not allow: a path must be
// absolute, a timeout above 0.
func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for kind, list := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for i, k := range list {
			if !filepath.IsAbs(k.Path) {
				return fmt.Errorf("hooks.%s[%d]: path %q is not absolute", kind, i, k.Path)
			}
			if k.Timeout != nil && *k.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d]: timeout %d: must be above 0", kind, i, *k.Timeout)
			}
		}
	}
	return nil
}

// newHookState is the state a hook reads, for a container of s at status.
func newHookState(id, bundle string, s *specs.Spec, pid int, status specs.ContainerState) specs.State {
	return specs.State{Version: specs.Version, ID: id, Status: status, Pid: pid, Bundle: bundle, Annotations: s.Annotations}
}

// planHooks gives init its hooks and the runtime's prestart and
// createRuntime hooks a place in the handshake (Spec.Network's: after the
// ID maps, before init mounts). Nothing is added without hooks.
func planHooks(spec *userns.Spec, s *specs.Spec, id, bundle string) {
	h := s.Hooks
	if h == nil {
		return
	}
	if len(h.CreateContainer)+len(h.StartContainer) > 0 {
		spec.Config.Hooks = &userns.Hooks{
			CreateContainer: h.CreateContainer, StartContainer: h.StartContainer,
			State: newHookState(id, bundle, s, 0, specs.StateCreating),
		}
	}
	early := append(append([]specs.Hook{}, h.Prestart...), h.CreateRuntime...)
	if len(early) == 0 {
		return
	}
	spec.Network = func(ctx context.Context, pid int, _ *userns.Aux) error {
		st := newHookState(id, bundle, s, pid, specs.StateCreating)
		for i, k := range early {
			kind := "prestart"
			if i >= len(h.Prestart) {
				kind = "createRuntime"
			}
			if err := userns.RunHook(ctx, kind, k, st, nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// warnHooks runs poststart or poststop hooks: a failure is a warning, and
// the next hook still runs (runtime-spec).
func warnHooks(log *slog.Logger, kind string, hooks []specs.Hook, st specs.State) {
	for _, k := range hooks {
		if err := userns.RunHook(context.Background(), kind, k, st, nil); err != nil {
			log.Warn(err.Error())
		}
	}
}

// stateHooks are the hooks the runtime still runs after create, kept in
// state.json: the bundle's config.json may change or go.
func stateHooks(h *specs.Hooks) *specs.Hooks {
	if h == nil || len(h.Poststart)+len(h.Poststop) == 0 {
		return nil
	}
	return &specs.Hooks{Poststart: h.Poststart, Poststop: h.Poststop}
}

// hookState is the state the runtime's later hooks read.
func (c *Container) hookState(status specs.ContainerState) specs.State {
	st := c.State
	pid := st.Pid
	if status == specs.StateStopped {
		pid = 0 // as state reports it: the PID may be someone else's by now
	}
	return specs.State{Version: specs.Version, ID: st.ID, Status: status, Pid: pid, Bundle: st.Bundle, Annotations: st.Annotations}
}
