package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Ephemeral sandboxes come from a pool of slots that outlive their runs: a
// run that finds its layers made and empty skips the directory creations and
// removals that, on slow filesystems, cost more than the rest of a start.
const (
	// poolCap is how many idle slots are kept: a run that took slot-N with
	// N >= poolCap (more runs at once than that) destroys it at its end.
	poolCap = 4

	slotPrefix = "slot-" // slot-N, N decimal
	newPrefix  = ".new-" // a slot being made, renamed to slot-N once locked
	oldPrefix  = ".old-" // a slot taken out of the pool to be removed
	ownerFile  = "owner" // in ephemeral sandboxes of the format before the pool

	// grace is how long a directory that may be half made is left alone.
	grace = time.Minute
)

// slot is what an ephemeral sandbox knows of its place in the pool.
type slot struct {
	index   int
	used    map[string]pristine // by layer key: the layers this run asked for
	grew    bool                // a layer was made: Release drops the unused ones
	retired bool                // renamed out of the pool (Destroy)
	gone    bool                // removed under us: nothing of it is ours
	done    bool                // released
}

func newSlot(parent string, n int) *Sandbox {
	return &Sandbox{
		Dir:  filepath.Join(parent, slotPrefix+strconv.Itoa(n)),
		root: filepath.Dir(parent),
		slot: &slot{index: n, used: map[string]pristine{}},
	}
}

// Ephemeral returns an unnamed sandbox for one run, locked: the first free
// slot of the pool, its layers emptied when its last run ended, or a new one.
// End the run with Release.
//
// A slot whose lock is free but which was never released (its run was
// killed) is destroyed here rather than reused, as are other leftovers; a
// failure to remove one is not an error, the next start tries again.
func (s Store) Ephemeral() (*Sandbox, error) {
	parent := filepath.Join(s.Root, ephemeralDir)
	names, err := readNames(s.Root, parent)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(s.Root, 0o700); err == nil {
			names, err = nil, mkdirBelow(s.Root, parent, 0o700)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create ephemeral sandbox: %w", err)
	}
	slots, others := parseSlots(names)
	var sb *Sandbox
	var live, rest []int // rest, for sweep: those after ours or without a lock file
	for _, n := range slots {
		if sb != nil {
			live, rest = append(live, n), append(rest, n)
			continue
		}
		var destroyed bool
		sb, destroyed, err = takeSlot(parent, n)
		if !destroyed {
			live = append(live, n)
		}
		if errors.Is(err, fs.ErrNotExist) {
			rest = append(rest, n)
		}
	}
	if sb == nil {
		if sb, err = createSlot(parent, live); err != nil {
			return nil, fmt.Errorf("create ephemeral sandbox: %w", err)
		}
	}
	sweep(parent, rest, others)
	return sb, nil
}

// SweepEphemeral destroys what killed runs left in the pool of ephemeral
// slots, as Ephemeral does on its way, for a run that takes no slot (its
// layers are in memory). Idle slots stay for later runs. Without a pool it
// costs one failed open.
func (s Store) SweepEphemeral() {
	parent := filepath.Join(s.Root, ephemeralDir)
	names, err := readNames(s.Root, parent)
	if err != nil {
		return
	}
	slots, others := parseSlots(names)
	sweep(parent, slots, others)
}

func readNames(root, dir string) ([]string, error) {
	d, err := openBelow(root, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// parseSlots splits directory names into slot numbers, sorted, and the rest.
func parseSlots(names []string) (slots []int, others []string) {
	for _, name := range names {
		n, err := strconv.Atoi(strings.TrimPrefix(name, slotPrefix))
		if err == nil && n >= 0 && name == slotPrefix+strconv.Itoa(n) {
			slots = append(slots, n)
		} else {
			others = append(others, name)
		}
	}
	sort.Ints(slots)
	return slots, others
}

// takeSlot locks slot n for this run. It returns nil for a slot in use or
// being removed (the error says which), and for one a killed run left, which
// it destroys.
func takeSlot(parent string, n int) (sb *Sandbox, destroyed bool, err error) {
	sb = newSlot(parent, n)
	dirty, err := sb.lockSlot()
	if err != nil {
		return nil, false, err
	}
	if dirty {
		err = sb.Destroy()
		sb.Unlock()
		return nil, err == nil, err
	}
	// The PID marks it taken: until Release truncates the file, a free lock
	// means a killed run.
	if _, err := sb.lock.WriteAt(pidLine(), 0); err != nil {
		sb.Unlock()
		return nil, false, err
	}
	return sb, false, nil
}

// createSlot makes a slot under the lowest free number, locked. It is made
// under a temporary name and renamed into place, so that a slot-N has its
// lock file from the start and no one else ever creates it.
func createSlot(parent string, slots []int) (*Sandbox, error) {
	tmp := filepath.Join(parent, newPrefix+strconv.FormatUint(rand.Uint64(), 36))
	if err := mkdirBelow(filepath.Dir(parent), tmp, 0o700); err != nil {
		return nil, err
	}
	sb := &Sandbox{Dir: tmp, root: filepath.Dir(parent)}
	if err := sb.initSlot(); err != nil {
		_ = sb.Destroy()
		sb.Unlock()
		return nil, err
	}
	n := 0
	for _, s := range slots {
		if s == n {
			n++
		}
	}
	var err error
	for tries := 0; tries < len(slots)+64; tries, n = tries+1, n+1 {
		dst := newSlot(parent, n)
		err = renameNoReplace(tmp, dst.Dir)
		if err == nil {
			dst.lock = sb.lock
			return dst, nil
		}
		if !errors.Is(err, fs.ErrExist) { // EEXIST or ENOTEMPTY: another start took n
			break
		}
	}
	_ = sb.Destroy()
	sb.Unlock()
	return nil, fmt.Errorf("name new slot: %w", err)
}

// initSlot fills a new slot directory: its lock (taken), layers and meta.json.
func (sb *Sandbox) initSlot() error {
	f, err := sb.openFile(lockFile, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create lock: %w", err)
	}
	// Waits only for a cleaner of an older version, which locks any
	// directory here for a moment; ours leave young .new- ones alone.
	if err := flock(f, true); err != nil {
		f.Close()
		return fmt.Errorf("lock new slot: %w", err)
	}
	sb.lock = f
	if _, err := f.WriteAt(pidLine(), 0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return sb.create()
}

// renameNoReplace renames from to to unless to exists.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: rename(2) still never replaces a
		// non-empty directory, and slots and sandboxes hold a lock file.
		err = unix.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// retire takes a slot out of the pool before it is removed: under a .old-
// name no start takes it, and a removal that fails leaves trash that the
// next start removes. A slot removed under us (by the caller, after a failed
// Release) is marked gone: slot-N may be someone else's by now.
func (sb *Sandbox) retire() error {
	if sb.slot == nil || sb.slot.retired || sb.slot.gone {
		return nil
	}
	if !sameFile(sb.lock, filepath.Join(sb.Dir, lockFile)) {
		sb.slot.gone = true
		return nil
	}
	parent := filepath.Dir(sb.Dir)
	var err error
	for range 3 {
		dst := filepath.Join(parent, oldPrefix+strconv.FormatUint(rand.Uint64(), 36))
		if err = renameNoReplace(sb.Dir, dst); err == nil {
			sb.Dir, sb.slot.retired = dst, true
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return err
}

// sweep removes what killed runs and failed removals left. It is cheap when
// there is nothing: a slot's lock file holds a PID only while the slot is in
// use or after its run was killed, so an idle slot costs one lstat.
func sweep(parent string, slots []int, others []string) {
	for _, n := range slots {
		sb := newSlot(parent, n)
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(sb.Dir, lockFile), &st)
		switch {
		case err == nil && st.Size == 0:
			// idle
		case err == nil:
			if dirty, err := sb.lockSlot(); err == nil {
				if dirty {
					_ = sb.Destroy()
				}
				sb.Unlock()
			}
		case errors.Is(err, unix.ENOENT):
			// Slots are born with a lock file: this one is being
			// removed in place (or was, and that failed).
			removeStale(sb.root, sb.Dir, grace)
		}
	}
	for _, name := range others {
		dir := filepath.Join(parent, name)
		switch {
		case strings.HasPrefix(name, newPrefix):
			removeStale(filepath.Dir(parent), dir, grace)
		case strings.HasPrefix(name, oldPrefix):
			removeStale(filepath.Dir(parent), dir, 0)
		case !strings.HasPrefix(name, "."):
			removeLegacy(filepath.Dir(parent), dir)
		}
	}
}

// removeStale removes dir unless its lock is held (its remover is at work)
// or it changed within young. Two removers of one tree do no harm.
func removeStale(root, dir string, young time.Duration) {
	var st unix.Stat_t
	if young > 0 && (unix.Lstat(dir, &st) != nil || time.Since(time.Unix(st.Mtim.Unix())) < young) {
		return
	}
	if f, err := openBelow(root, filepath.Join(dir, lockFile), os.O_RDWR, 0); err == nil {
		defer f.Close()
		if flock(f, false) != nil {
			return
		}
	}
	_ = removeTree(dir)
}

// removeLegacy removes an ephemeral sandbox of the format before the pool
// (a random name, an owner file) once its owner is gone. Its owner held its
// lock from just after creating it to its removal, so a free lock means a
// dead owner, except in that first instant: without an owner file yet, a
// young one is left alone.
func removeLegacy(root, dir string) {
	info, err := os.Lstat(dir) // before Lock, which creates a file in it
	if err != nil || !info.IsDir() {
		return
	}
	sb := &Sandbox{Dir: dir, root: root}
	if sb.Lock(false) != nil {
		return
	}
	defer sb.Unlock()
	if _, err := os.Lstat(filepath.Join(dir, ownerFile)); err == nil || time.Since(info.ModTime()) > grace {
		_ = sb.Destroy()
	}
}
