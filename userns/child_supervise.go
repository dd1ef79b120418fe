package userns

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// forwardedInInit are the signals init passes on to the command. Init is PID 1 of
// its namespace, so the kernel drops any signal it has no handler for; these get one.
var forwardedInInit = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// absorbedInInit are signals init takes and drops. Go's runtime answers these,
// when they come from kill(2) and nobody asked for them, by crashing with a
// traceback that prints init's registers on the user's terminal (SIGABRT,
// SIGQUIT's kin, SIGSYS, SIGTRAP, SIGILL, SIGSTKFLT) or by nothing useful.
// The kernel delivers a signal from inside the namespace to its init only if
// init handles it; a handler that drops it means a kill from inside can
// neither stop init nor make it print. A fault of init's own (a real SIGSEGV)
// is still Go's panic: the runtime tells the two apart by si_code.
//
// Not signal.Ignore: SIG_IGN would be inherited by the command across exec,
// while a handler is reset to the default there.
var absorbedInInit = []os.Signal{
	unix.SIGABRT, unix.SIGSEGV, unix.SIGBUS, unix.SIGTRAP, unix.SIGSYS, unix.SIGFPE,
	unix.SIGILL, unix.SIGSTKFLT, unix.SIGALRM, unix.SIGVTALRM, unix.SIGXCPU,
	unix.SIGXFSZ, unix.SIGPWR, unix.SIGIO,
}

// forwardedByInit says whether sig is one init passes on to the command.
func forwardedByInit(sig os.Signal) bool {
	for _, s := range forwardedInInit {
		if s == sig {
			return true
		}
	}
	return false
}

// supervisor is init's loop once the command runs.
type supervisor struct {
	pid  int
	tty  bool    // the command is a job in the terminal's foreground
	out  msgOut  // messages to the parent
	in   *frames // messages from the parent
	sigs <-chan os.Signal
	// grace is how long the command has to end after a SIGTERM or SIGINT
	// before init kills everything in the sandbox; negative: no limit.
	grace time.Duration
	// execs are sandbox-runc exec's processes, whose status goes back to
	// their callers (nil for `sandbox`).
	execs *execTable
}

// run forwards signals to the command and reaps every child until the command
// ends. It returns the command's exit status (128+N for signal N) and signal.
// What the command left behind dies with init: the kernel kills a PID
// namespace's processes when its init exits.
func (s *supervisor) run() (status, signal int) {
	done := make(chan unix.WaitStatus, 1)
	stopped := make(chan struct{}, 1)
	go s.reap(done, stopped)
	cont := make(chan Msg, 1)
	go func() {
		for {
			m, err := s.in.next()
			if err != nil {
				return
			}
			if m.Type == MsgContinue {
				cont <- m
			}
		}
	}()
	var expired <-chan time.Time
	var stopSig os.Signal
	killedAll := false
	for {
		select {
		case sig := <-s.sigs:
			if !forwardedByInit(sig) {
				continue
			}
			_ = unix.Kill(s.pid, sig.(unix.Signal))
			if sig != unix.SIGTERM && sig != unix.SIGINT {
				continue
			}
			// A stopped command cannot act on SIGTERM until it runs again
			// (docker stop does the same).
			_ = unix.Kill(s.pid, unix.SIGCONT)
			if expired == nil && s.grace >= 0 {
				stopSig = sig
				expired = time.After(s.grace)
			}
		case <-expired:
			// The command ignored the request, or cannot act on it (a
			// process stuck in D state on a fuse daemon that spins).
			// kill(-1) from a namespace's init reaches every other
			// process in it, the fuse daemons included, whose end
			// aborts their pending requests.
			expired = nil
			killedAll = true
			_ = unix.Kill(-1, unix.SIGKILL)
		case <-stopped:
			// ^Z: the parent gives the terminal back to the caller's shell
			// and stops itself, as a shell's job would.
			_ = s.out.send(Msg{Type: MsgStopped})
		case m := <-cont:
			if m.Foreground {
				_ = setForeground(0, s.pid)
			}
			_ = unix.Kill(-s.pid, unix.SIGCONT)
		case ws := <-done:
			if killedAll {
				fmt.Fprintf(os.Stderr, "sandbox: the command did not end within %s of %s: killed everything in the sandbox (--stop-timeout sets the time)\n",
					s.grace, unix.SignalName(stopSig.(unix.Signal)))
			}
			if ws.Signaled() {
				return 128 + int(ws.Signal()), int(ws.Signal())
			}
			return ws.ExitStatus(), 0
		}
	}
}

// endAll kills every process left in the sandbox's PID namespace (daemons the
// command started, fuse-overlayfs) and reaps them. kill(-1) from a
// namespace's init reaches all of it but init.
//
// Preconditions: the supervisor's reaper has returned (the command is gone).
func endAll() {
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return // ECHILD: none left
		}
	}
}

func (s *supervisor) reap(done chan<- unix.WaitStatus, stopped chan<- struct{}) {
	opts := 0
	if s.tty {
		opts = unix.WUNTRACED
	}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, opts, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || (got == s.pid && !ws.Stopped()) {
			done <- ws
			return
		}
		if got == s.pid && ws.Stopped() {
			select {
			case stopped <- struct{}{}:
			default:
			}
		}
		// Otherwise an exec'd process, or an orphan re-parented to us:
		// reaped, nothing more to do.
		s.execs.reaped(got, ws)
	}
}
