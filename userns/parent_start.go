package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
)

// The clone of init (runs in the parent): Start before the plan is complete,
// or start from Run; the exec.Cmd that clones it; why the kernel refused.

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
