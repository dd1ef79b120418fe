package layers

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CommitOptions selects and guards what Commit applies.
type CommitOptions struct {
	// Paths limits the commit to changes at or under these absolute host
	// paths. Directories the host lacks above a selected change (A, or M
	// over a non-directory) are included too: it cannot be written without
	// them. Empty means everything.
	Paths  []string
	Force  bool      // overwrite host entries that changed since (conflicts)
	DryRun bool      // validate and print, change nothing
	Out    io.Writer // gets one line per change (Change.Line); nil for none
	// KeepSetuid keeps the setuid and setgid bits of new files (not
	// directories); by default a commit drops them and says so.
	KeepSetuid bool
}

// ConflictError lists host paths changed since the sandbox copied them.
type ConflictError struct{ Paths []string }

func (e *ConflictError) Error() string {
	const show = 10
	list := make([]string, 0, show)
	for i, p := range e.Paths {
		if i == show {
			list = append(list, fmt.Sprintf("and %d more", len(e.Paths)-show))
			break
		}
		list = append(list, quoteShort(p))
	}
	return fmt.Sprintf("%d host paths changed since the sandbox started using them, and committing would overwrite that (sandbox commit --force overwrites them anyway): %s",
		len(e.Paths), strings.Join(list, ", "))
}

// Commit applies the sandbox's changes (Diff) to the host and returns those
// it applied. Unless DryRun, it takes the lock if not held (a running sandbox
// gives a *BusyError): uppers must not change under it.
//
// Everything is checked before anything is written: conflicts (package doc),
// symlinks on the host in the way (refused, even with Force), permissions on
// the host directories written to, and that every upper file can be read.
// So a commit that returns an error in that phase changed nothing.
//
// Then, in path order: a regular file, symlink or FIFO is created under a
// random temporary name next to its target (O_EXCL), given the upper's mode,
// times and (when it is ours) group, fsynced, and renamed over the target,
// so each target is at all times either old or new, even if the commit is
// interrupted; a type change swaps the two with RENAME_EXCHANGE. Directories
// are created, and get their mode and times after their content. Deleted
// files are unlinked; a host directory is removed recursively only when the
// layer says it was deleted (whiteout, opaque parent, or replaced by a
// non-directory), and never across a mount point (refused, like
// rm --one-file-system). Host directories are never chmodded to make room: a
// permission problem is reported, naming the directory.
//
// A replaced host file is a new inode: hard links to it keep the old content.
// Setuid and setgid bits of files are dropped unless KeepSetuid, and even
// then kept only when the new file has the upper's owner and group (see
// safeMode). Temporary names are noted in the sandbox's journal first, so
// the next commit removes what a commit killed halfway left (cleanTemps).
//
// After a successful commit, the committed entries are removed from the
// uppers (package doc); when that leaves nothing but plain directories, the
// conflict window (Meta.Pending) closes.
func (sb *Sandbox) Commit(opt CommitOptions) ([]Change, error) {
	var temps *journal
	if !opt.DryRun { // a dry run only reads, so it may preview a running sandbox
		release, err := sb.hold()
		if err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		defer release()
		// First, what a commit killed halfway left.
		if temps, err = sb.openJournal(); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		defer temps.close()
	}
	meta, err := sb.readMeta()
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	all, stale, err := sb.diff()
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for _, c := range all {
		if len(c.Layer.Lowers) > 0 { // its paths are not the host's
			return nil, fmt.Errorf("commit: the layer of %s is over an image's layers, not a host directory", quoteShort(c.Layer.Mount))
		}
	}
	sel, err := selectChanges(all, opt.Paths)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	// Stale whiteouts go with the commit of their paths: they hide nothing,
	// but left alone they would keep the uppers from ever being bare.
	tidy, _ := selectChanges(stale, opt.Paths)
	p := newPlan(sel, meta.since(), opt)
	p.temps = temps
	defer p.close()
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	out := opt.Out
	if out == nil {
		out = io.Discard
	}
	if opt.DryRun {
		for i := range sel {
			fmt.Fprintln(out, p.line(&sel[i]))
		}
		return sel, nil
	}
	if err := p.apply(out); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	p.temps.done()
	if err := cleanUppers(append(tidy, sel...), append(stale, all...)); err != nil {
		return sel, fmt.Errorf("commit: the host was updated, but %w", err)
	}
	if !meta.Pending.IsZero() && len(sel) == len(all) && sb.uppersBare() {
		meta.Pending = time.Time{}
		if err := sb.writeMeta(meta); err != nil {
			return sel, fmt.Errorf("commit: the host was updated, but %w", err)
		}
	}
	return sel, nil
}

// selectChanges keeps the changes at or under paths, plus the directories
// they need created (A, or M over a host non-directory). all is sorted.
func selectChanges(all []Change, paths []string) ([]Change, error) {
	if len(paths) == 0 {
		return all, nil
	}
	roots := make([]string, len(paths))
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("select %s: not an absolute path", quoteShort(p))
		}
		roots[i] = filepath.Clean(p)
	}
	keep := make([]bool, len(all))
	// A path that selects nothing is most likely a typo: committing the
	// rest and saying nothing would hide that.
	var none []string
	for _, r := range roots {
		if !slices.ContainsFunc(all, func(c Change) bool { return underAny(c.Path, []string{r}) }) {
			none = append(none, quoteShort(r))
		}
	}
	if len(none) > 0 {
		return nil, fmt.Errorf("no change at or under %s (see sandbox diff)", strings.Join(none, ", "))
	}
	byPath := map[string][]int{}
	for i, c := range all {
		byPath[c.Path] = append(byPath[c.Path], i)
	}
	for i, c := range all {
		if !underAny(c.Path, roots) {
			continue
		}
		keep[i] = true
		for a := filepath.Dir(c.Path); a != c.Layer.HostPath && a != "/"; a = filepath.Dir(a) {
			for _, j := range byPath[a] {
				if all[j].Layer == c.Layer && all[j].createsDir() {
					keep[j] = true
				}
			}
		}
	}
	var sel []Change
	for i, c := range all {
		if keep[i] {
			sel = append(sel, c)
		}
	}
	return sel, nil
}

func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || r == "/" || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// createsDir reports a change that makes a directory where the host has none.
func (c *Change) createsDir() bool {
	return c.Kind != 'D' && c.Mode.IsDir() && !c.host.IsDir()
}

// line is Change.Line, saying when setuid or setgid is dropped.
func (p *plan) line(c *Change) string {
	if c.Setid() && !p.keepSetid {
		return c.Line() + " dropped (--keep-setuid keeps it)"
	}
	return c.Line()
}
