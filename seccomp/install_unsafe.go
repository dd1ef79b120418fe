package seccomp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads prog as a seccomp filter on the calling thread, which the
// threads and processes it creates afterwards inherit. It does not pass
// SECCOMP_FILTER_FLAG_TSYNC: the sandbox's init installs it on the thread
// that forks the command, before the fork, while its other threads still
// need what the filter refuses; SyncThreads spreads it after the fork.
//
// Install does not set no_new_privs itself: the kernel refuses the filter
// (EACCES) without it unless the thread has CAP_SYS_ADMIN, and setting it
// belongs with the capability drop it is ordered against.
//
// Preconditions: OS thread locked; no_new_privs set.
func Install(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		return fmt.Errorf("install seccomp filter: %d instructions (want 1-%d)", len(prog), unix.BPF_MAXINSNS)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	var err error
	if errno != 0 {
		err = os.NewSyscallError("seccomp", errno)
	}
	if errors.Is(err, unix.ENOSYS) {
		// seccomp(2) came in Linux 3.17, or an outer filter hides it.
		_, _, errno = unix.Syscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)))
		err = nil
		if errno != 0 {
			err = os.NewSyscallError("prctl PR_SET_SECCOMP", errno)
		}
	}
	runtime.KeepAlive(prog)
	if errors.Is(err, unix.EACCES) {
		return fmt.Errorf("install seccomp filter (no_new_privs not set?): %w", err)
	}
	if err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	return nil
}

// SyncThreads gives every other thread of the process the calling thread's
// filters (SECCOMP_FILTER_FLAG_TSYNC), by adding a filter that allows
// everything: the others get the caller's whole stack, and its no_new_privs.
//
// Why: Install filters only the calling thread (the one that forks the
// command); init's other threads would stay unfiltered. Nothing outside can
// reach them (init is not dumpable), but a filter on them too is depth.
//
// Preconditions: on the thread that ran Install; no thread has a filter that
// the caller's does not descend from (true in init: only the caller has one).
func SyncThreads() error {
	allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	fprog := unix.SockFprog{Len: 1, Filter: &allow[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(allow)
	if errno != 0 {
		return fmt.Errorf("sync seccomp filter to every thread: %w", os.NewSyscallError("seccomp", errno))
	}
	if r != 0 {
		return fmt.Errorf("sync seccomp filter to every thread: thread %d cannot take it", r)
	}
	return nil
}
