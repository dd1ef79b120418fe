package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// watchItem is a protected path that does not exist: name in host directory
// dir. See view_guard.go for why it is watched rather than covered.
type watchItem struct{ dir, name string }

// watcher keeps names out of directories while the command runs: what the
// command creates (or renames) there is moved aside, named NAME.sandbox-
// blocked-N, as soon as inotify reports it, and once more after the run,
// when no process of the sandbox is left to race with (PID 1 of its
// namespace is gone). It runs in the parent, on directory handles opened
// before the command starts; inside, each directory is a mount point (a pin
// or the bind's top), so the command cannot swap it for another.
type watcher struct {
	f    *os.File // inotify, non-blocking: Close ends the reader
	dirs map[int]*watchedDir
	done chan struct{}

	mu    sync.Mutex
	notes []string
}

type watchedDir struct {
	path  string
	fd    int
	names map[string]bool
}

func startWatch(items []watchItem) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch protected paths: %w", os.NewSyscallError("inotify_init1", err))
	}
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), dirs: map[int]*watchedDir{}, done: make(chan struct{})}
	byPath := map[string]*watchedDir{}
	for _, it := range items {
		d := byPath[it.dir]
		if d == nil {
			dfd, err := unix.Open(it.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				w.close()
				return nil, fmt.Errorf("watch %s: %w", it.dir, err)
			}
			d = &watchedDir{path: it.dir, fd: dfd, names: map[string]bool{}}
			// Through the handle: the watch is on the directory opened.
			wd, err := unix.InotifyAddWatch(fd, "/proc/self/fd/"+strconv.Itoa(dfd),
				unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR)
			if err != nil {
				unix.Close(dfd)
				w.close()
				return nil, fmt.Errorf("watch %s: %w", it.dir, os.NewSyscallError("inotify_add_watch", err))
			}
			byPath[it.dir], w.dirs[wd] = d, d
		}
		d.names[it.name] = true
	}
	go w.loop()
	return w, nil
}

func (w *watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed by stop
		}
		// struct inotify_event: wd, mask, cookie, len, then len bytes of name.
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			start := off + unix.SizeofInotifyEvent
			off = start + size
			if off > n {
				break
			}
			if mask&unix.IN_Q_OVERFLOW != 0 {
				w.sweep()
				continue
			}
			d := w.dirs[int(wd)]
			if name := cstring(buf[start:off]); d != nil && d.names[name] {
				w.moveAside(d, name)
			}
		}
	}
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (w *watcher) sweep() {
	for _, d := range w.dirs {
		for name := range d.names {
			w.moveAside(d, name)
		}
	}
}

// moveAside renames d/name to a free NAME.sandbox-blocked-N in the same
// directory: the command's work is kept for review, but no shell, desktop or
// git finds it under the name it trusts.
func (w *watcher) moveAside(d *watchedDir, name string) {
	for i := 1; i < 1000; i++ {
		to := name + ".sandbox-blocked-" + strconv.Itoa(i)
		err := unix.Renameat2(d.fd, name, d.fd, to, unix.RENAME_NOREPLACE)
		switch {
		case errors.Is(err, unix.EEXIST):
			continue
		case errors.Is(err, unix.ENOENT):
			return // not there (any more)
		case err != nil:
			w.note(fmt.Sprintf("sandbox: warning: the command created %s, a protected path, and it could not be moved aside: %v; remove it before you use git or a shell there",
				filepath.Join(d.path, name), err))
			return
		}
		w.note(fmt.Sprintf("sandbox: the command created %s, a protected path (what lies there runs later, outside the sandbox): moved to %s (allow it on purpose: --rw %s)",
			filepath.Join(d.path, name), filepath.Join(d.path, to), filepath.Join(d.path, name)))
		return
	}
}

func (w *watcher) note(s string) {
	w.mu.Lock()
	w.notes = append(w.notes, s)
	w.mu.Unlock()
}

// stop ends the watch, sweeps once more and returns what was moved aside.
// Postconditions: no process of the sandbox is left (called after the run).
func (w *watcher) stop() []string {
	if w == nil {
		return nil
	}
	w.f.Close()
	<-w.done
	w.sweep()
	w.close()
	return w.notes
}

func (w *watcher) close() {
	w.f.Close()
	for _, d := range w.dirs {
		unix.Close(d.fd)
	}
	w.dirs = nil
}
