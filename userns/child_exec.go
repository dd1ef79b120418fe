package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/quote"
	"sandbox/seccomp"
)

// startCommand forks and execs the command from the calling thread, after
// lowering that thread's privileges, so the command inherits the lowered state.
// It returns the command's PID, or the exit code for the error (126 cannot
// execute, 127 not found, 125 setup).
//
// Why no extra re-exec: each Go start costs milliseconds, and everything the
// command must inherit (capabilities, no_new_privs, seccomp, the cgroup
// namespace) is per-thread state that fork copies.
//
// Preconditions: OS thread locked (init runs on main's locked thread); after
// it returns, that thread only supervises (wait, kill, write to the parent),
// which needs none of the privileges it dropped.
func startCommand(cfg *Config) (pid, code int, err error) {
	// The name is printed on the user's terminal, and it may come from an
	// image's Entrypoint: escaped (control, bidi and invalid characters).
	name := quote.Short(cfg.Argv[0], 200)
	path, err := lookPath(cfg.Argv[0], cfg.Env)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, 127, fmt.Errorf("%s: command not found", name)
		}
		return 0, 126, fmt.Errorf("%s: %w", name, err)
	}
	if err := setRlimits(cfg.Rlimits); err != nil {
		return 0, 125, err
	}
	if err := lockDown(cfg); err != nil {
		return 0, 125, fmt.Errorf("lock down: %w", err)
	}
	pid, err = syscall.ForkExec(path, cfg.Argv, procAttr(cfg))
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return 0, code, fmt.Errorf("exec %s: %w", quote.Short(path, 200), err)
	}
	return pid, 0, nil
}

func procAttr(cfg *Config) *syscall.ProcAttr {
	sys := &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: cfg.UID, Gid: cfg.GID, NoSetGroups: true},
	}
	if len(cfg.Groups) > 0 || cfg.SetGroups {
		// The OCI runtime and image runs ask, only where setgroups is allowed.
		sys.Credential.Groups, sys.Credential.NoSetGroups = cfg.Groups, false
	}
	sys.AmbientCaps = ambientCaps(cfg.Caps, cfg.UID)
	if isControllingTTY(0) {
		// A shell's job: its own process group in the terminal's foreground,
		// so ^C and ^Z reach the command alone, and `bash` gets job control.
		sys.Setpgid, sys.Foreground, sys.Ctty = true, true, 0
	} else {
		// No terminal input: a new session without a controlling terminal,
		// so the command cannot push keystrokes into the caller's terminal
		// with TIOCSTI (bubblewrap CVE-2017-5226).
		sys.Setsid = true
		if cfg.Terminal && isTerminal(0) {
			// sandbox-runc's pty (oci.go's console), which init holds
			// as its stdio: the command's controlling terminal.
			sys.Setctty = true
		}
	}
	return &syscall.ProcAttr{Env: cfg.Env, Files: append([]uintptr{0, 1, 2}, preservedFDs(cfg.PreservedFDs)...), Sys: sys}
}

// lockDown lowers the calling thread's privileges for the command, in this
// order: capabilities (dropping the bounding set needs CAP_SETPCAP, so it
// comes before the rest), no_new_privs, and the seccomp filter last, so that
// nothing above runs under it (runc and bubblewrap order it the same way).
//
// Preconditions: OS thread locked.
func lockDown(cfg *Config) error {
	if err := setCaps(cfg.Caps, cfg.UID == 0); err != nil {
		return err
	}
	// no_new_privs: a setuid or file-capability binary inside gains nothing.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if len(cfg.Seccomp) > 0 {
		// Seccomp last: nothing after it but the fork and exec.
		if err := seccomp.Install(cfg.Seccomp); err != nil {
			return err
		}
	}
	return nil
}

// setCaps leaves the thread with set as its bounding set. A root command gets
// its capabilities from the bounding set at exec; a non-root one keeps only
// what set names, through the ambient set (empty by default).
func setCaps(set CapSet, root bool) error {
	// Init's capabilities came to it as ambient ones; none passes on by that
	// route unless asked.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if set&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	lo, hi := uint32(set), uint32(set>>32)
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if !root {
		keep := lo
		if unix.Getuid() == 0 {
			// Init is root and the command is not (an image's User): the
			// fork's setuid and setgid need these, and that setuid clears
			// every capability as it leaves ID 0 (capabilities(7)).
			keep |= 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID
		}
		data[0].Permitted &= keep
		data[1].Permitted &= hi
		data[0].Effective &= keep
		data[1].Effective &= hi
		data[0].Inheritable, data[1].Inheritable = lo, hi
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if root {
		return nil
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if set&(1<<c) != 0 {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				return fmt.Errorf("raise ambient capability %d: %w", c, err)
			}
		}
	}
	return nil
}

// ambientCaps is what the fork raises in its ambient set after its setuid,
// for a non-root command: leaving ID 0 there clears the ambient set that
// setCaps raised (capabilities(7)), so with init root (sandbox-runc as
// podman runs it) a non-root process.user kept no capability at all. Go's
// child keeps the permitted set across setuid (PR_SET_KEEPCAPS) and raises
// these again; they are within what setCaps left permitted.
func ambientCaps(set CapSet, uid uint32) []uintptr {
	if uid == 0 {
		return nil
	}
	var caps []uintptr
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if set&(1<<c) != 0 {
			caps = append(caps, uintptr(c))
		}
	}
	return caps
}

// setRlimits sets the OCI config's limits on init, whose fork the command
// is: they are per process, and nothing the command inherits can be set
// between fork and exec with os/exec. syscall's Setrlimit, not x/sys's: the
// Go runtime otherwise restores its own RLIMIT_NOFILE in the child.
func setRlimits(limits []Rlimit) error {
	for _, l := range limits {
		if err := syscall.Setrlimit(l.Resource, &syscall.Rlimit{Cur: l.Soft, Max: l.Hard}); err != nil {
			return fmt.Errorf("set rlimit %d to %d/%d: %w", l.Resource, l.Soft, l.Hard, err)
		}
	}
	return nil
}

// lookPath finds file on the PATH of the command's environment (not init's).
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, checkExec(file)
	}
	pathEnv := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	// Like execvp: a directory we cannot search is skipped; a file found but
	// not executable is remembered (126) in case nothing better comes.
	var found error = unix.ENOENT
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		if err := unix.Access(p, unix.X_OK); err != nil {
			found = fmt.Errorf("%s: %w", p, err)
			continue
		}
		return p, nil
	}
	return "", found
}

func checkExec(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return unix.EISDIR
	}
	return unix.Access(p, unix.X_OK)
}
