package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const ownerFile = "owner"

// ownerGrace is how long an ephemeral directory without an owner file is
// left alone: it is being created (Ephemeral writes the owner right away).
const ownerGrace = 10 * time.Minute

// Ephemeral creates a new unnamed sandbox owned by this process, returned
// locked; the caller destroys it at exit. It first removes ephemeral
// sandboxes whose owner is gone; failing to remove one is not an error, as
// the next start tries again.
func (s Store) Ephemeral() (*Sandbox, error) {
	parent := filepath.Join(s.Root, ephemeralDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("create ephemeral sandbox: %w", err)
	}
	s.cleanEphemeral()
	dir, err := os.MkdirTemp(parent, "")
	if err != nil {
		return nil, fmt.Errorf("create ephemeral sandbox: %w", err)
	}
	sb := &Sandbox{Dir: dir}
	// Lock before writing the owner; a cleaner holding the lock for a moment
	// finds no owner and a fresh directory, so it leaves it: wait for it.
	err = sb.Lock(true)
	if err == nil {
		err = writeOwner(dir)
	}
	if err == nil {
		err = sb.create()
	}
	if err != nil {
		_ = sb.Destroy()
		return nil, fmt.Errorf("create ephemeral sandbox: %w", err)
	}
	return sb, nil
}

func writeOwner(dir string) error {
	start, err := procStartTime(os.Getpid())
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%d %d\n", os.Getpid(), start)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(line), 0o600); err != nil {
		return fmt.Errorf("write owner: %w", err)
	}
	return nil
}

// cleanEphemeral removes the ephemeral sandboxes left by dead processes.
func (s Store) cleanEphemeral() {
	ents, err := os.ReadDir(filepath.Join(s.Root, ephemeralDir))
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sb := &Sandbox{Dir: filepath.Join(s.Root, ephemeralDir, e.Name())}
		// Lstat before Lock, which creates a file in it; a failed Lock means
		// in use, or being removed by another cleaner.
		info, err := os.Lstat(sb.Dir)
		if err != nil || sb.Lock(false) != nil {
			continue
		}
		if sb.stale(info.ModTime()) {
			_ = sb.Destroy()
		}
		sb.Unlock()
	}
}

// stale reports whether the owner of an ephemeral sandbox is gone. mtime is
// the directory's, for one without an owner file yet.
func (sb *Sandbox) stale(mtime time.Time) bool {
	b, err := os.ReadFile(filepath.Join(sb.Dir, ownerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Since(mtime) > ownerGrace
	}
	var pid int
	var start uint64
	if err != nil {
		return false
	}
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || pid <= 0 {
		return true // we write it whole before use; garbage means a crash
	}
	now, err := procStartTime(pid)
	return err != nil || now != start
}

// procStartTime returns field 22 of /proc/PID/stat: the process's start time
// in clock ticks since boot, which with the PID identifies a process even
// after the PID is reused.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read process start time: %w", err)
	}
	// Field 2 (comm) is in parentheses and may hold spaces and ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return v, nil
}
