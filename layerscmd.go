package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"sandbox/layers"
	"sandbox/quote"
)

// DiffCmd is `sandbox diff NAME`: what the sandbox changed relative to the host.
type DiffCmd struct {
	Name string `arg:"" help:"The named sandbox."`
	Stat bool   `help:"Print counts and bytes instead of the list."`
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
		return nil, fmt.Errorf("no sandbox named %s (see sandbox ls)", quote.Name(name))
	}
	return store.Open(name)
}

// Run prints A/M/D lines, or counts with --stat.
func (d *DiffCmd) Run() error {
	sb, err := openNamed(d.Name)
	if err != nil {
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
	return store.Remove(r.Names...)
}
