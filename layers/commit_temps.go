package layers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// tempPrefix starts every temporary name a commit makes in a host directory:
// a new file before its rename into place, or an old one moved aside.
const tempPrefix = ".sandbox-"

// journalFile, in the sandbox's directory, lists the temporary names the
// last commit made, each as "DIR\0NAME\0", written before the name is made.
// A commit that ends empties it; one that was killed leaves it for the next.
const journalFile = "commit-temps"

// journal is the open journal of a commit in progress.
type journal struct{ f *os.File }

// openJournal opens the sandbox's journal and removes every temporary a
// commit killed halfway left (issue 22): a file not yet renamed into place,
// or an old file or directory moved aside to be deleted. Names in it are
// random and were ours, so nothing else can be named; host directories are
// opened without following symlinks.
func (sb *Sandbox) openJournal() (*journal, error) {
	f, err := sb.openFile(journalFile, unix.O_RDWR|unix.O_CREAT, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open commit journal: %w", err)
	}
	j := &journal{f: f}
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read commit journal: %w", err)
	}
	if len(b) == 0 {
		return j, nil
	}
	fields := bytes.Split(b, []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		if err := removeTemp(string(fields[i]), string(fields[i+1])); err != nil {
			f.Close()
			return nil, fmt.Errorf("remove what an interrupted commit left: %w", err)
		}
	}
	j.done()
	return j, nil
}

// removeTemp removes one temporary name, if it is still there.
func removeTemp(dir, name string) error {
	if !strings.HasPrefix(name, tempPrefix) || strings.ContainsRune(name, '/') || !filepath.IsAbs(dir) {
		return fmt.Errorf("the journal names %s in %s, not a temporary of ours", quoteShort(name), quoteShort(dir))
	}
	fd, err := openat2(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_NO_SYMLINKS)
	if errors.Is(err, unix.ENOENT) {
		return nil // the directory went: so did the temporary
	}
	if err != nil {
		return resolveError(unix.AT_FDCWD, dir, "/", dir, err)
	}
	defer unix.Close(fd)
	return removeAt(fd, name, filepath.Join(dir, name), false)
}

// note records a temporary name before it is made.
func (j *journal) note(dir, name string) error {
	if j == nil {
		return nil
	}
	// One write, appended: no fsync, which would cost a disk flush per
	// file. A killed process leaves its writes in the page cache.
	if _, err := j.f.Write([]byte(dir + "\x00" + name + "\x00")); err != nil {
		return fmt.Errorf("write commit journal: %w", err)
	}
	return nil
}

// done empties the journal: every temporary noted is gone or in place.
func (j *journal) done() {
	if j != nil {
		_ = j.f.Truncate(0)
		_, _ = j.f.Seek(0, io.SeekStart)
	}
}

func (j *journal) close() {
	if j != nil {
		j.f.Close()
	}
}
