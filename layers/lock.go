package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// BusyError is returned by Lock(false) when another process holds the lock.
type BusyError struct {
	Name string // sandbox name, or its directory for an ephemeral one
	PID  int    // 0 when the holder did not write its PID yet
}

func (e *BusyError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("sandbox %s is in use by another process", e.Name)
	}
	return fmt.Sprintf("sandbox %s is in use by PID %d", e.Name, e.PID)
}

// Lock takes the sandbox's exclusive lock: flock on Dir/lock, so the kernel
// drops it when the process dies, and a stale lock cannot exist. Without wait,
// a held lock gives a *BusyError naming the holder's PID; with wait, Lock
// blocks until the holder is done. Locking twice through one Sandbox is a
// no-op. The lock fd is close-on-exec: children do not keep it alive.
func (sb *Sandbox) Lock(wait bool) error {
	if sb.lock != nil {
		return nil
	}
	if sb.slot != nil {
		return sb.lockSlotPID()
	}
	path := filepath.Join(sb.Dir, lockFile)
	f, err := sb.openFile(lockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock sandbox %s: %w", sb.label(), err)
	}
	if err := flock(f, wait); errors.Is(err, unix.EWOULDBLOCK) {
		pid := readPID(f)
		f.Close()
		return &BusyError{Name: sb.label(), PID: pid}
	} else if err != nil {
		f.Close()
		return fmt.Errorf("lock sandbox %s: %w", sb.label(), err)
	}
	// Remove/Destroy unlink the lock file while holding it; a lock taken on
	// such an orphaned inode would guard nothing.
	if !sameFile(f, path) {
		f.Close()
		return fmt.Errorf("lock sandbox %s: it was removed meanwhile", sb.label())
	}
	if err := writePID(f); err != nil {
		f.Close()
		return fmt.Errorf("lock sandbox %s: %w", sb.label(), err)
	}
	sb.lock = f
	return nil
}

// Unlock releases the lock taken by Lock; without it, it does nothing. An
// ephemeral sandbox's PID stays in its lock file: only Release marks its
// slot as fit for reuse, and the next start destroys one left like this.
func (sb *Sandbox) Unlock() {
	if sb.lock == nil {
		return
	}
	if sb.slot == nil {
		_ = sb.lock.Truncate(0) // no stale PID for the next reader
		sb.openWorkDirs()
	}
	sb.lock.Close()
	sb.lock = nil
}

// lockSlot takes an ephemeral slot's lock without waiting and without
// creating its lock file: a slot has one from the start, and one without it
// is being removed. dirty reports that the last holder did not Release it
// (it left its PID there).
func (sb *Sandbox) lockSlot() (dirty bool, err error) {
	path := filepath.Join(sb.Dir, lockFile)
	f, err := sb.openFile(lockFile, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	if err := flock(f, false); err != nil {
		f.Close()
		return false, err
	}
	// Destroy renames a slot away before removing it: a lock on what is no
	// longer this slot's lock file guards nothing.
	info, err := f.Stat()
	if err != nil || !sameInfo(info, path) {
		f.Close()
		return false, fmt.Errorf("lock %s: the slot was removed meanwhile", sb.Dir)
	}
	sb.lock = f
	return info.Size() > 0, nil
}

// lockSlotPID is Lock for an ephemeral sandbox.
func (sb *Sandbox) lockSlotPID() error {
	_, err := sb.lockSlot()
	if errors.Is(err, unix.EWOULDBLOCK) {
		return &BusyError{Name: sb.label()}
	}
	if err != nil {
		return fmt.Errorf("lock sandbox %s: %w", sb.label(), err)
	}
	if _, err := sb.lock.WriteAt(pidLine(), 0); err != nil {
		sb.Unlock()
		return fmt.Errorf("lock sandbox %s: %w", sb.label(), err)
	}
	return nil
}

// hold takes the lock unless it is held already and returns what undoes that.
func (sb *Sandbox) hold() (release func(), err error) {
	if sb.lock != nil {
		return func() {}, nil
	}
	if err := sb.Lock(false); err != nil {
		return nil, err
	}
	return sb.Unlock, nil
}

func (sb *Sandbox) label() string {
	if sb.Name == "" {
		return sb.Dir
	}
	return sb.Name
}

func flock(f *os.File, wait bool) error {
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return &os.SyscallError{Syscall: "flock", Err: err}
			}
			return nil
		}
	}
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	return err == nil && sameInfo(a, path)
}

func sameInfo(a fs.FileInfo, path string) bool {
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(pidLine(), 0)
	return err
}

func pidLine() []byte { return []byte(strconv.Itoa(os.Getpid()) + "\n") }

// readPID returns the PID the holder wrote, or 0 if it has not yet.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
