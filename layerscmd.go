package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"sandbox/layers"
	"sandbox/quote"
	"sandbox/userns"
)

// DiffCmd is `sandbox diff NAME`: what the sandbox changed relative to the host.
type DiffCmd struct {
	Name  string `arg:"" help:"The named sandbox."`
	Stat  bool   `help:"Print counts and bytes instead of the list."`
	Patch bool   `short:"p" help:"Print changed text files as a unified diff (cd / && patch -p1 applies it)."`
}

// PathCmd is `sandbox path NAME`: where a named sandbox keeps its changes.
type PathCmd struct {
	Name string `arg:"" help:"The named sandbox."`
}

// CommitCmd is `sandbox commit NAME [PATH...]`: apply the changes to the host.
type CommitCmd struct {
	Name   string   `arg:"" help:"The named sandbox."`
	Paths  []string `arg:"" optional:"" help:"Commit only the changes at or under these host paths."`
	Force  bool     `help:"Overwrite host files that changed since the sandbox copied them."`
	DryRun bool     `help:"Show what would be done; change nothing."`
	// By default a commit drops setuid and setgid from files: a command
	// could otherwise leave a setuid program of yours on the host.
	KeepSetuid bool `help:"Keep the setuid and setgid bits of committed files (dropped by default)."`
}

// LsCmd is `sandbox ls`.
type LsCmd struct{}

// RmCmd is `sandbox rm NAME...`.
type RmCmd struct {
	Names []string `arg:"" help:"Named sandboxes to remove."`
}

func openNamed(name string) (*layers.Sandbox, error) {
	if err := layers.ValidName(name); err != nil {
		return nil, err
	}
	store, err := layers.DefaultStore()
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(store.Root, name)); err != nil {
		return nil, &layers.NotFoundError{Name: name}
	}
	return store.Open(name)
}

// Run prints, for each layer, the host directory and the upper directory
// holding the changes to it, so a user's own tools (meld, rsync, du) can read
// them.
func (p *PathCmd) Run() error {
	sb, err := openNamed(p.Name)
	if err != nil {
		return err
	}
	ls, err := sb.Layers()
	if err != nil {
		return err
	}
	if len(ls) == 0 {
		fmt.Fprintf(os.Stderr, "sandbox: %s has no layers yet (it has not run)\n", quote.Name(p.Name))
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tCHANGES")
	for _, l := range ls {
		host := quote.Name(l.HostPath)
		if len(l.Lowers) > 0 { // an image's root: its changes are to the image
			host = quote.Name(l.Mount) + " (image)"
		}
		fmt.Fprintf(w, "%s\t%s\n", host, quote.Name(l.Upper))
	}
	return w.Flush()
}

// Run prints A/M/D lines, or counts with --stat.
func (d *DiffCmd) Run(code *int) error {
	sb, err := openNamed(d.Name)
	if err != nil {
		return err
	}
	if c, ran, err := d.diffMapped(sb); ran {
		*code = c
		return err
	}
	changes, err := sb.Diff()
	if err != nil {
		return err
	}
	if d.Stat {
		a, m, del, bytes := layers.Stat(changes)
		fmt.Printf("%d added, %d modified, %d deleted, %s written\n", a, m, del, human(uint64(bytes)))
		return nil
	}
	if d.Patch {
		w := bufio.NewWriter(os.Stdout)
		for i := range changes {
			if err := changes[i].Patch(w); err != nil {
				return err
			}
		}
		return w.Flush()
	}
	for i := range changes {
		fmt.Println(changes[i].Line())
	}
	return nil
}

// Run applies the changes (all, or those under Paths).
func (c *CommitCmd) Run() error {
	sb, err := openNamed(c.Name)
	if err != nil {
		return err
	}
	if err := refuseImageCommit(sb); err != nil {
		return err
	}
	if err := sb.Lock(false); err != nil {
		return err
	}
	defer sb.Unlock()
	var paths []string
	for _, p := range c.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		paths = append(paths, abs)
	}
	_, err = sb.Commit(layers.CommitOptions{Paths: paths, Force: c.Force, DryRun: c.DryRun, KeepSetuid: c.KeepSetuid, Out: os.Stdout})
	return err
}

// Run lists the named sandboxes.
func (LsCmd) Run() error {
	store, err := layers.DefaultStore()
	if err != nil {
		return err
	}
	infos, err := store.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSIZE\tCREATED\tLAST COMMAND")
	for _, i := range infos {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", quote.Name(i.Name), human(uint64(i.Size)), i.Created.Format(time.DateTime),
			quote.Name(strings.Join(i.LastCommand, " ")))
	}
	return w.Flush()
}

// Run removes the named sandboxes.
func (r *RmCmd) Run() error {
	for _, n := range r.Names {
		if err := layers.ValidName(n); err != nil {
			return err
		}
	}
	store, err := layers.DefaultStore()
	if err != nil {
		return err
	}
	// A --uid 0 run leaves files of other IDs inside (sub-IDs on the host):
	// root of a user namespace with our map removes them all at once.
	asOwner := func(dir string) error {
		maps, _ := planMapsQuiet("auto", uint32(os.Getuid()), uint32(os.Getgid()))
		return userns.RemoveAll(context.Background(), maps, dir)
	}
	err = store.RemoveWith(asOwner, r.Names...)
	var nf *layers.NotFoundError
	if len(r.Names) == 1 && errors.As(err, &nf) {
		if hint := forgottenDashes(append([]string{"rm"}, r.Names...)); hint != "" {
			return fmt.Errorf("%w; %s", err, hint)
		}
	}
	return err
}
