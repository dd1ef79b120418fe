package userns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Joining namespaces by path (sandbox-runc: config.json's namespaces with a
// `path`, as podman gives for slirp4netns's network namespace and for the
// namespaces a pod shares).
//
// Where: in the parent, on a locked OS thread that clones init, just
// before the clone. The kernel makes a clone share its creator's network,
// IPC, UTS and cgroup namespaces unless a CLONE_NEW* flag asks otherwise,
// and puts it in the thread's PID namespace "for children": so init starts
// inside the joined namespaces, with the new user namespace (and mount
// namespace) made around them, and without the flag for each joined one.
// Init itself could not do it: setns(2) needs CAP_SYS_ADMIN in the user
// namespace that owns the target, and init's user namespace is brand new,
// a child of ours, with no rights over namespaces made before it. The
// parent has exactly the caller's rights: the kernel refuses (EPERM) a
// namespace the caller could not join itself, which is the permission
// story (a namespace owned by a user namespace where we are root, as
// podman's are for its runtime).
//
// User and mount namespaces are never joined: setns into them is refused
// to a process with more than one thread, which every Go program is.
//
// The thread that joins is one of its own, thrown away after (withJoined).

// NSJoin is one namespace to join: its CLONE_NEW* flag and its path.
type NSJoin struct {
	Flag int    // unix.CLONE_NEWNET, _NEWIPC, _NEWUTS, _NEWPID or _NEWCGROUP
	Path string // untrusted (config.json's)
}

// nsName names a namespace that may be joined, as /proc/PID/ns does; ""
// for any other kind.
func nsName(flag int) string {
	switch flag {
	case unix.CLONE_NEWNET:
		return "net"
	case unix.CLONE_NEWIPC:
		return "ipc"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	}
	return ""
}

// OpenNS opens path as a namespace of the kind flag names. It is the one
// door for a namespace path: the path is opened O_PATH first (no open(2) of
// a FIFO or device, which could block or act), must lie on nsfs, and must
// be of the kind asked for; only then is it reopened for setns.
func OpenNS(path string, flag int) (int, error) {
	name := nsName(flag)
	if name == "" {
		return -1, fmt.Errorf("namespace %s: joining this kind is not possible", path)
	}
	p, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s namespace %s: %w", name, path, err)
	}
	defer unix.Close(p)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(p, &fs); err != nil {
		return -1, fmt.Errorf("open %s namespace %s: %w", name, path, err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return -1, fmt.Errorf("%s namespace %s: not a namespace file (/proc/PID/ns/%s, or a bind mount of one)", name, path, name)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", p), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s namespace %s: %w", name, path, err)
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil || typ != flag {
		unix.Close(fd)
		return -1, fmt.Errorf("%s namespace %s: it is another kind of namespace", name, path)
	}
	return fd, nil
}

// withJoined runs fn (the clone of init) on a thread of its own that has
// joined the namespaces of joins first, and returns a release that ends
// that thread. Without joins, fn runs here and release does nothing.
//
// A thread of its own, thrown away after: the thread cannot go back to our
// namespaces (setns into the ones we came from needs rights over the user
// namespace that owns them, the host's as a rule, which root of podman's
// user namespace does not have), and no other goroutine may run on it in
// them. It is kept until release, not ended at once: init's parent-death
// signal is sent when the thread that cloned it ends (go.dev/issue/27505),
// and init clears it only before it says Created.
func withJoined(joins []NSJoin, fn func() error) (release func(), err error) {
	if len(joins) == 0 {
		return func() {}, fn()
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, j := range joins {
		fd, err := OpenNS(j.Path, j.Flag)
		if err != nil {
			return func() {}, &JoinError{err}
		}
		fds = append(fds, fd)
	}
	done := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		res <- func() error {
			for i, fd := range fds {
				if err := unix.Setns(fd, joins[i].Flag); err != nil {
					return joinError(joins[i], err)
				}
			}
			return fn()
		}()
		<-done
	}()
	err = <-res
	return sync.OnceFunc(func() { close(done) }), err
}

// JoinError is a namespace that could not be joined.
type JoinError struct{ Err error }

func (e *JoinError) Error() string { return e.Err.Error() }
func (e *JoinError) Unwrap() error { return e.Err }

// joinError explains a refused setns.
func joinError(j NSJoin, err error) error {
	if errors.Is(err, unix.EPERM) {
		return &JoinError{fmt.Errorf("join %s namespace %s: %w (it must belong to a user namespace where sandbox-runc is root: run sandbox-runc inside that user namespace, as podman does)", nsName(j.Flag), j.Path, err)}
	}
	return &JoinError{fmt.Errorf("join %s namespace %s: %w", nsName(j.Flag), j.Path, err)}
}

// joinedFlags are the CLONE_NEW* flags joins name (init is cloned without
// them).
func joinedFlags(joins []NSJoin) uintptr {
	var f uintptr
	for _, j := range joins {
		f |= uintptr(j.Flag)
	}
	return f
}

// preservedBase is the first descriptor init gets of the caller's
// --preserve-fds (after sync, msg and aux: 3, 4, auxFD).
const preservedBase = auxFD + 1

// preservedFDs lists the command's descriptors 3 and up: init's copies of
// the caller's --preserve-fds.
func preservedFDs(n int) []uintptr {
	out := make([]uintptr, n)
	for i := range out {
		out[i] = uintptr(preservedBase + i)
	}
	return out
}

// closePreserved closes init's copies once the command has them.
func closePreserved(n int) {
	for i := 0; i < n; i++ {
		unix.Close(preservedBase + i)
	}
}

// preservedList lists init's copies of the caller's descriptors.
func preservedList(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = preservedBase + i
	}
	return out
}

// checkExtra reports an ExtraFiles entry that is not open.
func checkExtra(files []*os.File) error {
	for i, f := range files {
		if f == nil {
			return fmt.Errorf("--preserve-fds: descriptor %d is not open", 3+i)
		}
	}
	return nil
}
