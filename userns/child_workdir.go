package userns

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// enterWorkDir makes dir the current directory of init, and so of the
// command. dir is untrusted: --chdir, a config file's chdir, the caller's
// directory, an image's WorkingDir.
//
// It is resolved inside the new root only: RESOLVE_IN_ROOT keeps "..", and
// absolute symlinks below "/", and RESOLVE_NO_MAGICLINKS refuses the /proc
// links that name an open file rather than a path (/proc/self/fd/N,
// /proc/self/cwd, /proc/self/root, /proc/1/fd/N). Through such a link a plain
// chdir reached a host directory init still held open: the command then ran
// with its working directory outside the sandbox (runc CVE-2024-21626).
//
// Preconditions: pivot_root done and the host's tree detached; no descriptor
// of the host's filesystem open (enterCgroup has closed the last one).
func enterWorkDir(dir string) error {
	fd, err := openWorkDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("enter working directory %q: %w", dir, err)
	}
	// Belt and braces: a directory that is not below our root has no path
	// from it, and the kernel's getcwd then says "(unreachable)", which Go
	// reports as an error.
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("working directory %q is not inside the sandbox", dir)
	}
	return nil
}

// openWorkDir opens dir, resolved inside the root only (see enterWorkDir),
// as an O_PATH descriptor: the one door for a working directory, the
// command's and sandbox-runc exec's.
func openWorkDir(dir string) (int, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the sandbox's root: %w", err)
	}
	defer unix.Close(root)
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(root, dir, how)
	if errors.Is(err, unix.ELOOP) && strings.HasPrefix(dir, "/proc/") {
		return -1, fmt.Errorf("working directory %q: a /proc link to an open file is not followed; name a directory inside the sandbox", dir)
	}
	if err != nil {
		return -1, fmt.Errorf("working directory %q inside the sandbox: %w", dir, err)
	}
	return fd, nil
}

// checkDescriptors refuses to start the command when init holds a descriptor
// that the command could use to reach a file: every descriptor above stderr
// must be close-on-exec and be a pipe, a socket or an anonymous inode (the Go
// runtime's epoll and wake-up fds, the aux channel). A directory or file
// there would be a way out of the new root, if not through the exec then
// through a bug elsewhere; it is a bug of ours, so the run stops (125).
//
// The descriptors in preserved are let through: init's copies of the
// caller's --preserve-fds, the command's on purpose.
//
// Preconditions: /proc is the sandbox's own (mounted by the plan).
func checkDescriptors(preserved ...int) error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list init's descriptors: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("list init's descriptors: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 || fd == int(d.Fd()) || slices.Contains(preserved, fd) {
			continue
		}
		what, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue // closed since the listing (a runtime wake-up fd)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			return fmt.Errorf("init holds descriptor %d (%s) without close-on-exec: refusing to start the command", fd, what)
		}
		if !harmlessFD(what) {
			return fmt.Errorf("init holds descriptor %d (%s), a way to a file: refusing to start the command", fd, what)
		}
	}
	return nil
}

// harmlessFD says whether a descriptor, as /proc/self/fd names it, leads to
// no file: a pipe, a socket, or an anonymous inode (epoll, eventfd, pidfd,
// signalfd).
func harmlessFD(what string) bool {
	for _, p := range []string{"pipe:", "socket:", "anon_inode:", "pidfd:"} {
		if strings.HasPrefix(what, p) {
			return true
		}
	}
	return false
}
