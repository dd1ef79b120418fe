package idmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
)

// Range is a run of IDs on the host: [Start, Start+Length).
type Range struct{ Start, Length uint32 }

// end is one past the last ID of r, without wrapping.
func (r Range) end() uint64 { return uint64(r.Start) + uint64(r.Length) }

// ParseSubIDs reads an /etc/subuid or /etc/subgid style file ("OWNER:START:COUNT"
// lines) and returns, in file order, the ranges of the user given by name or
// numeric id: like shadow's newuidmap, a line may name either.
//
// Comments (lines starting with #), blank lines and whitespace around fields are
// skipped. A malformed line whose owner is this user is an error naming the line
// number; malformed lines of other users are skipped, so that one broken line
// for someone else does not lock this user out. Zero-length ranges are skipped.
// Every range returned ends at or below 4294967295, so its last ID is valid.
func ParseSubIDs(r io.Reader, name string, id uint32) ([]Range, error) {
	var out []Range
	err := eachLine(r, func(n int, owner string, rg Range, err error) error {
		if !isOwner(owner, name, id) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("parse line %d: %w", n, err)
		}
		if rg.Length > 0 {
			out = append(out, rg)
		}
		return nil
	})
	return out, err
}

// LookupSubIDs opens path and calls ParseSubIDs; a missing file gives (nil, nil),
// which the caller treats like a file without an entry for the user.
func LookupSubIDs(path, name string, id uint32) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open sub-ID file: %w", err)
	}
	defer f.Close()
	rs, err := ParseSubIDs(f, name, id)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rs, nil
}

// AllSubIDs returns the well-formed, non-empty ranges of every user in an
// /etc/subuid style file, for SubIDLine. Malformed lines are skipped.
func AllSubIDs(r io.Reader) ([]Range, error) {
	var out []Range
	err := eachLine(r, func(_ int, _ string, rg Range, err error) error {
		if err == nil && rg.Length > 0 {
			out = append(out, rg)
		}
		return nil
	})
	return out, err
}

// Sub-ID blocks that SubIDLine hands out, on the grid useradd uses by default
// (SUB_UID_MIN and SUB_UID_COUNT in login.defs(5)).
const (
	subIDFirst = 100000
	subIDCount = 65536
)

// SubIDLine returns the /etc/subuid (or /etc/subgid) line that would give name a
// block of 65536 IDs, e.g. "alice:165536:65536", for advice when the user has
// none. The block is the first one at 100000 + k*65536 that overlaps none of
// taken (the ranges already in the file, from AllSubIDs).
func SubIDLine(name string, taken []Range) string {
	return fmt.Sprintf("%s:%d:%d", name, freeStart(taken), subIDCount)
}

// freeStart is the first start on the subIDFirst + k*subIDCount grid whose block
// overlaps none of taken. It gives up (returns subIDFirst) only if the ID space
// is full, which no real file reaches.
func freeStart(taken []Range) uint32 {
	start := uint64(subIDFirst)
	for _, r := range normalize(taken) {
		if start+subIDCount <= uint64(r.Start) {
			break
		}
		if r.end() > start {
			blocks := (r.end() - subIDFirst + subIDCount - 1) / subIDCount
			start = subIDFirst + blocks*subIDCount
		}
	}
	if start+subIDCount > math.MaxUint32 {
		return subIDFirst
	}
	return uint32(start)
}

// isOwner says whether a line's first field names the user, by name or by uid.
func isOwner(owner, name string, id uint32) bool {
	if name != "" && owner == name {
		return true
	}
	n, err := strconv.ParseUint(owner, 10, 32)
	return err == nil && uint32(n) == id
}

// eachLine calls fn with the number, owner field and parsed range (or parse
// error) of every line that is neither blank nor a comment. It stops at the
// first error fn returns.
func eachLine(r io.Reader, fn func(n int, owner string, rg Range, err error) error) error {
	// bufio.Reader rather than Scanner: Scanner fails the whole file on a line
	// over 64 KiB, and that line may be someone else's.
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, readErr := br.ReadString('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return fmt.Errorf("read line %d: %w", n, readErr)
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			owner, rg, err := parseLine(t)
			if err := fn(n, owner, rg, err); err != nil {
				return err
			}
		}
		if readErr != nil {
			return nil
		}
	}
}

// parseLine splits "OWNER:START:COUNT". It always returns the owner, so that
// the caller can tell whose line a malformed one is.
//
// A '#' after the start of a line is not a comment: newuidmap would not read
// such a line either, and an error now beats a refused map later.
func parseLine(line string) (string, Range, error) {
	f := strings.Split(line, ":")
	owner := strings.TrimSpace(f[0])
	if len(f) != 3 {
		return owner, Range{}, fmt.Errorf("want OWNER:START:COUNT, got %d fields in %q", len(f), line)
	}
	start, err := parseUint32("start", f[1])
	if err != nil {
		return owner, Range{}, err
	}
	count, err := parseUint32("count", f[2])
	if err != nil {
		return owner, Range{}, err
	}
	rg := Range{Start: start, Length: count}
	// 4294967295 is (uid_t)-1, "no ID"; the kernel refuses extents that reach it.
	if rg.end() > math.MaxUint32 {
		return owner, Range{}, fmt.Errorf("range %d+%d passes the last valid ID %d", start, count, uint32(math.MaxUint32-1))
	}
	return owner, rg, nil
}

func parseUint32(what, s string) (uint32, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		// strconv's own message repeats the input and its function name.
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return 0, fmt.Errorf("parse %s %q: %w", what, s, err)
	}
	return uint32(n), nil
}
