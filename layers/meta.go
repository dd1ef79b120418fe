package layers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// metaVersion is the meta.json format this package writes. Readers refuse a
// newer one rather than drop fields they do not know on the next write.
const metaVersion = 1

// Meta is the content of meta.json.
type Meta struct {
	Version int       `json:"version"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	// Started is when the last run began (BeginRun).
	Started time.Time `json:"started,omitzero"`
	// Pending is the start of the first run since the uppers last held
	// nothing but plain directories; zero when none ran since. It bounds
	// conflicts (package doc).
	Pending     time.Time `json:"pending_since,omitzero"`
	LastCommand []string  `json:"last_command,omitempty"`
	LastRun     time.Time `json:"last_run,omitzero"` // when the last run ended
	LastStatus  int       `json:"last_status"`
}

// since is the time after which host changes conflict with the uppers.
func (m *Meta) since() time.Time {
	if m.Pending.IsZero() {
		return m.Created
	}
	return m.Pending
}

// Meta returns the sandbox's metadata.
func (sb *Sandbox) Meta() (Meta, error) { return sb.readMeta() }

func (sb *Sandbox) readMeta() (Meta, error) {
	var m Meta
	b, err := readBelow(sb.storeRoot(), filepath.Join(sb.Dir, metaFile))
	if err != nil {
		return m, fmt.Errorf("read metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("parse %s: %w", filepath.Join(sb.Dir, metaFile), err)
	}
	if m.Version > metaVersion {
		return m, fmt.Errorf("read %s: format version %d is newer than this program's %d", filepath.Join(sb.Dir, metaFile), m.Version, metaVersion)
	}
	return m, nil
}

// writeMeta replaces meta.json atomically, so a crash never leaves half a file.
func (sb *Sandbox) writeMeta(m Meta) error {
	m.Version = metaVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	dir, err := sb.openSelf()
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	tmp, f, err := createTempAt(dfd, ".meta-")
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	defer unix.Unlinkat(dfd, tmp, 0) // no-op after the rename
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, metaFile)
	}
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	return nil
}

// initMeta writes a first meta.json unless one exists. RENAME_NOREPLACE keeps
// the first of two racing Opens, so Created is not moved forward.
func (sb *Sandbox) initMeta() error {
	dir, err := sb.openSelf()
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	var st unix.Stat_t
	if unix.Fstatat(dfd, metaFile, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &SymlinkError{Path: filepath.Join(sb.Dir, metaFile)}
		}
		return nil
	}
	now, err := sb.stamp()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(Meta{Version: metaVersion, Name: sb.Name, Created: now}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	tmp, f, err := createTempAt(dfd, ".meta-new-")
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	defer unix.Unlinkat(dfd, tmp, 0)
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	err = unix.Renameat2(dfd, tmp, dfd, metaFile, unix.RENAME_NOREPLACE)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write metadata: %w", &os.SyscallError{Syscall: "renameat2", Err: err})
	}
	return nil
}

// stamp returns "now" as the kernel's file timestamp clock sees it: the ctime of
// a file created for the purpose. Host ctimes come from that clock (coarse, so
// it may lag time.Now by a tick); comparing against it needs no slack.
func (sb *Sandbox) stamp() (time.Time, error) {
	dir, err := sb.openSelf()
	if err != nil {
		return time.Time{}, fmt.Errorf("take timestamp: %w", err)
	}
	defer dir.Close()
	tmp, f, err := createTempAt(int(dir.Fd()), ".stamp-")
	if err != nil {
		return time.Time{}, fmt.Errorf("take timestamp: %w", err)
	}
	defer unix.Unlinkat(int(dir.Fd()), tmp, 0)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return time.Time{}, fmt.Errorf("take timestamp: %w", &os.SyscallError{Syscall: "fstat", Err: err})
	}
	return time.Unix(st.Ctim.Unix()), nil
}

// BeginRun records that a run starts now. Call it with the lock held, before
// the overlays are mounted: it is what bounds conflict detection (package doc).
func (sb *Sandbox) BeginRun() error {
	m, err := sb.readMeta()
	if err != nil {
		return err
	}
	if m.Started, err = sb.stamp(); err != nil {
		return err
	}
	if m.Pending.IsZero() {
		m.Pending = m.Started
	}
	return sb.writeMeta(m)
}

// SetLastRun records the command of the run that just ended and its exit
// status.
func (sb *Sandbox) SetLastRun(argv []string, status int) error {
	m, err := sb.readMeta()
	if err != nil {
		return err
	}
	m.LastCommand = append([]string(nil), argv...)
	m.LastRun = time.Now()
	m.LastStatus = status
	return sb.writeMeta(m)
}

// statBlocks is the allocated size of a file in 512-byte units.
func statBlocks(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks
	}
	return (info.Size() + 511) / 512
}

// createTempAt creates a new file named prefix and a random suffix in the
// directory dfd, never through a symlink.
func createTempAt(dfd int, prefix string) (string, *os.File, error) {
	for range 8 {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36)
		fd, err := unix.Openat(dfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return name, os.NewFile(uintptr(fd), name), nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", nil, &os.SyscallError{Syscall: "openat", Err: err}
		}
	}
	return "", nil, &os.SyscallError{Syscall: "openat", Err: unix.EEXIST}
}
