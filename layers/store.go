package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"sandbox/quote"
)

// Store is the directory holding all sandboxes: $XDG_DATA_HOME/sandbox.
type Store struct{ Root string }

// Sandbox is one sandbox's directory. Its methods are not safe for concurrent
// use; between processes, Lock is what keeps two users of a sandbox apart.
type Sandbox struct {
	Name string // "" for an ephemeral sandbox
	Dir  string

	root string   // the store's root: nothing below it is followed if a symlink
	lock *os.File // non-nil while Lock is held
	slot *slot    // non-nil for an ephemeral sandbox (a slot of the pool)
}

// Info describes a named sandbox for listings.
type Info struct {
	Name        string
	Size        int64 // bytes on disk used by the uppers (st_blocks × 512)
	Created     time.Time
	LastCommand []string
	LastRun     time.Time // zero if never run
	LastStatus  int
}

const (
	ephemeralDir = ".ephemeral"
	metaFile     = "meta.json"
	lockFile     = "lock"
	layersDir    = "layers"
)

// DefaultStore returns the store under $XDG_DATA_HOME, or ~/.local/share when
// that is unset or relative (the XDG spec says to ignore relative paths).
func DefaultStore() (Store, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return Store{}, fmt.Errorf("find data directory: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return Store{Root: filepath.Join(base, "sandbox")}, nil
}

// ValidName accepts [A-Za-z0-9][A-Za-z0-9_.-]{0,63}: one path component that
// is not hidden (so never ".", ".." or ".ephemeral") and fits in a terminal.
func ValidName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("invalid sandbox name %q: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Open returns the named sandbox, creating it if missing. It does not lock it.
func (s Store) Open(name string) (*Sandbox, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	sb := &Sandbox{Name: name, Dir: filepath.Join(s.Root, name), root: s.Root}
	if err := sb.create(); err != nil {
		return nil, fmt.Errorf("open sandbox %s: %w", name, err)
	}
	return sb, nil
}

// create makes the sandbox's directories and, if missing, its meta.json.
// Private modes: uppers hold copies of the user's files.
func (sb *Sandbox) create() error {
	if err := os.MkdirAll(sb.storeRoot(), 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	for _, d := range []string{sb.Dir, filepath.Join(sb.Dir, layersDir)} {
		if err := mkdirBelow(sb.storeRoot(), d, 0o700); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	return sb.initMeta()
}

// List returns the named sandboxes, sorted by name. Sandboxes whose metadata
// cannot be read are listed with what is known.
func (s Store) List() ([]Info, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []Info
	for _, e := range ents {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		sb := &Sandbox{Name: e.Name(), Dir: filepath.Join(s.Root, e.Name()), root: s.Root}
		in := Info{Name: sb.Name, Size: sb.diskUsage()}
		if m, err := sb.readMeta(); err == nil {
			in.Created, in.LastCommand, in.LastRun, in.LastStatus = m.Created, m.LastCommand, m.LastRun, m.LastStatus
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// diskUsage sums the allocated bytes of the uppers. Unreadable parts (sub-ID
// owned directories) are skipped: a listing should not fail over them.
func (sb *Sandbox) diskUsage() int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(sb.Dir, layersDir), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += statBlocks(info) * 512
		}
		return nil
	})
	return n
}

// Remove destroys the named sandboxes. A sandbox in use is refused and the
// others are still removed; the error names every failure.
func (s Store) Remove(names ...string) error {
	return s.RemoveWith(nil, names...)
}

// RemoveWith is Remove, with asOwner to remove what the user's own
// permissions cannot (entries owned by a sub-ID). nil means none.
func (s Store) RemoveWith(asOwner Remover, names ...string) error {
	var errs []error
	for _, name := range names {
		if err := ValidName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		sb := &Sandbox{Name: name, Dir: filepath.Join(s.Root, name), root: s.Root}
		if err := checkEntry(sb.Dir); errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &NotFoundError{Name: name})
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", name, err))
			continue
		}
		if err := sb.destroy(asOwner); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NotFoundError is a name no sandbox has.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no sandbox named %s (see sandbox ls)", quote.Name(e.Name))
}
