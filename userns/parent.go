package userns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
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

// Started is an init cloned before the plan was complete: its Go runtime starts
// (several milliseconds) while the parent parses flags and plans, and it waits
// on fd 3 for its Config. Run consumes it; Close ends one that was not used.
type Started struct {
	cmd                *exec.Cmd
	toInitW, fromInitR *os.File
	aux                *os.File // our end of the aux channel (aux.go)
	// release ends the thread that cloned init into joined namespaces
	// (nsjoin.go), once init no longer dies with it.
	release  func()
	shareNet bool
	err      error
}

// Start clones init with every namespace (the host's network with shareNet).
// The ID maps are written later, by Run.
//
// Preconditions: the calling goroutine is locked to the main OS thread, which
// never exits: the kernel sends init PR_SET_PDEATHSIG when the *thread* that
// forked it dies, not the process (go.dev/issue/27505).
func Start(shareNet bool) *Started { return start(shareNet, nil, nil, nil) }

// start is Start, with namespaces to join and descriptors for init.
func start(shareNet bool, join []NSJoin, inJoined func() error, extra []*os.File) *Started {
	st := &Started{shareNet: shareNet, release: func() {}}
	if st.err = checkExtra(extra); st.err != nil {
		return st
	}
	// Pipes named at the call site: init gets toInit's read end as fd 3 and
	// fromInit's write end as fd 4.
	toInitR, toInitW, err := os.Pipe()
	if err != nil {
		st.err = fmt.Errorf("create sync pipe: %w", err)
		return st
	}
	fromInitR, fromInitW, err := os.Pipe()
	if err != nil {
		toInitR.Close()
		toInitW.Close()
		st.err = fmt.Errorf("create message pipe: %w", err)
		return st
	}
	auxP, auxC, err := newAuxPair()
	if err != nil {
		toInitR.Close()
		toInitW.Close()
		fromInitR.Close()
		fromInitW.Close()
		st.err = err
		return st
	}
	st.cmd = initCommand(shareNet, toInitR, fromInitW, auxC)
	st.cmd.ExtraFiles = append(st.cmd.ExtraFiles, extra...)
	st.cmd.SysProcAttr.Cloneflags &^= joinedFlags(join)
	st.release, st.err = withJoined(join, func() error {
		if inJoined != nil {
			if err := inJoined(); err != nil {
				return &JoinError{err}
			}
		}
		return st.cmd.Start()
	})
	toInitR.Close()
	fromInitW.Close()
	auxC.Close()
	if st.err != nil {
		st.release()
		st.err = startError(st.err)
		toInitW.Close()
		fromInitR.Close()
		auxP.Close()
		return st
	}
	st.toInitW, st.fromInitR, st.aux = toInitW, fromInitR, auxP
	return st
}

// Close kills an init that Run did not take.
func (st *Started) Close() {
	if st == nil || st.cmd == nil || st.cmd.Process == nil || st.toInitW == nil {
		return
	}
	_ = st.cmd.Process.Kill()
	_ = st.cmd.Wait()
	st.toInitW.Close()
	st.fromInitR.Close()
	st.aux.Close()
	st.toInitW = nil
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

func initCommand(shareNet bool, syncR, msgW, aux *os.File) *exec.Cmd {
	// No CLONE_NEWCGROUP here: init makes its cgroup namespace once it sits
	// in its final cgroup, so the namespace's root is that cgroup.
	flags := unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
		unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
	if !shareNet {
		flags |= unix.CLONE_NEWNET
	}
	attr := &syscall.SysProcAttr{
		Cloneflags: uintptr(flags),
		Pdeathsig:  syscall.SIGKILL,
		// Init gets its own process group: signals from the terminal go to the
		// command's group (or to us), never to init as well, so nothing is
		// delivered twice.
		Setpgid: true,
		// Init keeps the capabilities it has in the new user namespace across
		// its exec although it is not mapped yet: it needs them for mounts,
		// and drops them all before the command runs.
		AmbientCaps: allCaps(),
	}
	return &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"sandbox-init"},
		Env:         []string{StageEnv + "=" + StageInit},
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{syncR, msgW, aux}, // fd 3, fd 4, fd 5 (auxFD)
		SysProcAttr: attr,
	}
}

func toSys(m []idmap.Mapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.Inside), HostID: int(e.Outside), Size: int(e.Count)}
	}
	return out
}

// allCaps lists every capability this kernel knows.
func allCaps() []uintptr {
	last := 40 // CAP_CHECKPOINT_RESTORE, Linux 5.9
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
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

// startError explains why the kernel refused the namespaces.
func startError(err error) error {
	var je *JoinError
	switch {
	case errors.As(err, &je):
		return err
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("create user namespace: %w (unprivileged user namespaces are disabled: "+
			"check sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0, "+
			"and AppArmor's kernel.apparmor_restrict_unprivileged_userns; run `sandbox check`)", err)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EUSERS):
		return fmt.Errorf("create namespaces: %w (namespace limit reached: raise user.max_user_namespaces)", err)
	}
	return fmt.Errorf("start init: %w", err)
}
