package userns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
)

// IDMaps says how the parent maps IDs into the sandbox.
type IDMaps struct {
	UID, GID []idmap.Mapping
	// With helpers, newuidmap/newgidmap write the maps (sub-IDs need the setuid
	// helpers); without, the parent writes the one-line maps itself and denies
	// setgroups.
	NewUIDMap, NewGIDMap string
	// KeepSetgroups: the parent is root of its own user namespace (podman
	// runs the OCI runtime so) and writes maps of several lines itself;
	// setgroups stays allowed there, for the command's supplementary groups.
	KeepSetgroups bool
}

func (m IDMaps) useHelpers() bool { return m.NewUIDMap != "" }

// Spec is what the parent needs to start a sandbox.
type Spec struct {
	Config Config
	Maps   IDMaps
	// ShareNet keeps the host's network namespace.
	ShareNet bool
	// Place, when set, puts init (by host PID) into a cgroup and returns that
	// cgroup's host directory. It runs while the IDs are mapped; init is not
	// released to start the command until it has returned.
	Place func(ctx context.Context, pid int) (string, error)
	// Network, when set, gives init's network namespace its user-mode stack.
	// It runs after the ID maps are written and before init may mount, so
	// the stack's helpers find init's namespaces mapped and its mount
	// namespace still the host's.
	// aux is the side channel to init (nil unless Config.Aux): published
	// ports are dialed and the tap device of --net gvisor is handed over
	// through it.
	Network func(ctx context.Context, pid int, aux *Aux) error
	// Join are namespaces init is cloned into rather than new ones
	// (nsjoin.go); ExtraFiles reach init as fd 6 and up (Config.PreservedFDs).
	// InJoined, if set, runs on the cloning thread while it is in the
	// joined namespaces (the sysctls of a joined network namespace, which
	// init's user namespace has no rights over).
	Join       []NSJoin
	InJoined   func() error
	ExtraFiles []*os.File
}

// Result is how the command ended.
type Result struct {
	Status int // exit status, or 128+Signal
	Signal int
	// Rusage is init's, which includes every process it reaped; nil when
	// the parent did not wait for init (Config.NoWait).
	Rusage *syscall.Rusage
	// Discarded: what the command wrote to an ephemeral run's memory
	// layer, in bytes and in files and directories.
	Discarded, DiscardedFiles int64
	// Pid is init's host PID, for Config.StartSocket (create).
	Pid int
}

// forwarded are the signals the parent passes on to init, which passes them on to
// the command. SIGCHLD, SIGPIPE and SIGURG (Go's preemption signal) never are.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// Run hands init its Config, maps its IDs, places it in a cgroup, releases it
// and waits for the command. pre is an init started early, or nil. It returns a
// *ChildError for failures inside.
//
// Preconditions: as for Start.
func Run(ctx context.Context, spec *Spec, pre *Started) (Result, error) {
	st := pre
	if st == nil || st.err != nil || st.toInitW == nil || st.shareNet != spec.ShareNet ||
		len(spec.Join) > 0 || len(spec.ExtraFiles) > 0 {
		pre.Close()
		st = start(spec.ShareNet, spec.Join, spec.InJoined, spec.ExtraFiles)
	}
	if st.err != nil {
		return Result{}, st.err
	}
	cmd, toInitW := st.cmd, st.toInitW
	st.toInitW = nil // taken: Close no longer applies
	defer st.release()
	defer toInitW.Close()
	// The aux channel only when the plan uses it (ports, --net gvisor):
	// otherwise no reader goroutine, nothing on the start-up path.
	var aux *Aux
	if spec.Config.Aux {
		auxConn, err := fileConn(st.aux)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			st.fromInitR.Close()
			return Result{}, fmt.Errorf("aux channel: %w", err)
		}
		aux = newAux(auxConn)
		defer aux.close()
	} else {
		st.aux.Close()
	}
	abort := func(err error) (Result, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Init may have failed first and said why (it could not make the
		// tap, say): that is the cause, and ours only its consequence. Its
		// end of the pipe is closed now that it is gone.
		if last, _ := readMessages(st.fromInitR, func() {}, false); last != nil && last.Type == MsgError {
			return Result{}, &ChildError{Stage: last.Stage, Msg: last.Err, Code: last.Code}
		}
		return Result{}, err
	}
	if h := spec.Config.Hooks; h != nil {
		h.State.Pid = cmd.Process.Pid // init's hooks get the PID we know it by
	}
	if _, err := toInitW.Write(frame(Msg{Type: MsgConfig, Config: &spec.Config})); err != nil {
		return abort(fmt.Errorf("send config: %w", err))
	}

	// Forward from now on: a SIGTERM during setup must still end the sandbox.
	// Notify and Reset each wait for the runtime's signal thread once per
	// signal, ~1.4 ms for these seven here, so both run on the forwarding
	// goroutine, beside the set-up and after Run has returned (issue 15).
	// Until Notify is done a signal takes its default action: it ends us,
	// and init with us (Pdeathsig). Reset, not Stop: Stop also waits for
	// the runtime's signal delivery to go idle; after Reset a signal takes
	// its default action again, as Stop would leave it.
	sigs := make(chan os.Signal, 8)
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		signal.Notify(sigs, forwarded...)
		defer signal.Reset(forwarded...)
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-ended:
				return
			}
		}
	}()

	// The cgroup (a D-Bus round trip) is made while the ID maps are written
	// and while init mounts: none waits for another.
	placed := make(chan placement, 1)
	if spec.Place != nil {
		go func() {
			dir, err := spec.Place(ctx, cmd.Process.Pid)
			placed <- placement{dir, err}
		}()
	} else {
		placed <- placement{}
	}
	if err := writeMaps(ctx, cmd.Process.Pid, spec.Maps); err != nil {
		<-placed
		return abort(fmt.Errorf("map IDs: %w", err))
	}
	if spec.Network != nil {
		if err := spec.Network(ctx, cmd.Process.Pid, aux); err != nil {
			<-placed
			return abort(fmt.Errorf("network: %w", err))
		}
	}
	// Mapped, then Go: init may only create files once its IDs exist, and may
	// only start the command once the cgroup holds it ("scope before Go": not
	// one instruction of the command runs outside its limits).
	if _, err := toInitW.Write(frame(Msg{Type: MsgMapped})); err != nil {
		<-placed
		return abort(fmt.Errorf("release init: %w", err))
	}
	p := <-placed
	if p.err != nil {
		return abort(p.err)
	}
	if _, err := toInitW.Write(frame(Msg{Type: MsgGo, Cgroup: p.dir})); err != nil {
		return abort(fmt.Errorf("release init: %w", err))
	}
	if spec.Config.StartSocket != "" {
		// sandbox-runc create: done once init waits for start; it
		// outlives us (oci.go).
		if err := awaitCreated(st.fromInitR); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return Result{}, err
		}
		return Result{Pid: cmd.Process.Pid}, nil
	}

	job := newJob(toInitW)
	defer job.restore()
	last, readErr := readMessages(st.fromInitR, job.stopped, spec.Config.NoWait)
	if spec.Config.NoWait && last != nil && last.Type == MsgExit {
		// Init has ended every other process; its own exit (the mount
		// namespace's teardown) goes on without us, and it dies at our
		// exit if it has not (Pdeathsig).
		return resultOf(last), nil
	}
	waitErr := cmd.Wait()
	res, err := result(last, readErr, waitErr, cmd.ProcessState)
	if cmd.ProcessState != nil {
		res.Rusage, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	return res, err
}

// writeMaps writes init's ID maps: with the setuid helpers for sub-IDs, or
// directly for a one-line map of our own IDs, which the kernel lets an
// unprivileged parent write once setgroups is denied.
func writeMaps(ctx context.Context, pid int, m IDMaps) error {
	if m.useHelpers() {
		return idmap.Apply(ctx, m.NewUIDMap, m.NewGIDMap, pid, m.UID, m.GID)
	}
	line := func(ms []idmap.Mapping) []byte {
		var b []byte
		for _, e := range ms {
			b = fmt.Appendf(b, "%d %d %d\n", e.Inside, e.Outside, e.Count)
		}
		return b
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	for _, f := range []struct {
		name string
		data []byte
	}{{"setgroups", []byte("deny")}, {"uid_map", line(m.UID)}, {"gid_map", line(m.GID)}} {
		if f.name == "setgroups" && m.KeepSetgroups {
			continue
		}
		if err := os.WriteFile(proc+f.name, f.data, 0); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

type placement struct {
	dir string
	err error
}

// readMessages reads init's messages until it closes its end (it keeps fd 4
// until it exits), acting on Stopped. It returns the last Error or Exit message.
func readMessages(r *os.File, stopped func(), untilExit bool) (*Msg, error) {
	defer r.Close()
	var last *Msg
	in := newFrames(r)
	for {
		m, err := in.next()
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return last, fmt.Errorf("decode message from init: %w", err)
		}
		switch m.Type {
		case MsgError, MsgExit:
			last = &m
			if untilExit && m.Type == MsgExit {
				return last, nil
			}
		case MsgStopped:
			stopped()
		}
	}
}

// resultOf is the Result an Exit message reports.
func resultOf(m *Msg) Result {
	return Result{Status: m.Status, Signal: m.Signal, Discarded: m.Discarded, DiscardedFiles: m.DiscardedFiles}
}

func result(last *Msg, readErr, waitErr error, st *os.ProcessState) (Result, error) {
	if last != nil && last.Type == MsgError {
		return Result{}, &ChildError{Stage: last.Stage, Msg: last.Err, Code: last.Code}
	}
	if last != nil && last.Type == MsgExit {
		return resultOf(last), nil
	}
	if readErr != nil {
		return Result{}, readErr
	}
	// Init died without a word: killed from outside (our pid namespace's init
	// only takes SIGKILL/SIGSTOP from us), or it crashed.
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) && st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Result{Status: 128 + int(ws.Signal()), Signal: int(ws.Signal())}, nil
		}
	}
	return Result{}, &ChildError{Stage: "init", Msg: fmt.Sprintf("exited without a status (%v)", waitErr), Code: 125}
}
