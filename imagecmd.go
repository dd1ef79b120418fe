package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"sandbox/image"
	"sandbox/quote"
)

// PullCmd is `sandbox pull REF`.
type PullCmd struct {
	Ref   string `arg:"" help:"The image: NAME[:TAG], docker://NAME, NAME@sha256:..., oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]." placeholder:"REF"`
	Quiet bool   `short:"q" help:"No progress bar."`
	Map   string `enum:"auto,subids,single" default:"auto" help:"ID map of the image's files: subids (your /etc/subuid ranges), single (all yours), auto."`
}

// Run pulls the image and prints its ID.
func (p *PullCmd) Run() error {
	ref, err := image.Parse(p.Ref)
	if err != nil {
		return err
	}
	id, err := pullImage(context.Background(), ref, p.Map, p.Quiet)
	if err != nil {
		return err
	}
	fmt.Println(id)
	return nil
}

// ImportCmd is `sandbox import FILE NAME`.
type ImportCmd struct {
	File string `arg:"" help:"A root filesystem tarball (plain, gzip or zstd)." placeholder:"FILE"`
	Name string `arg:"" help:"The image's name: NAME[:TAG] (localhost/NAME when it has no registry)." placeholder:"NAME"`
	Map  string `enum:"auto,subids,single" default:"auto" help:"ID map of the image's files (as for pull)."`
}

// Run imports the tarball as a one-layer image and prints its ID.
func (c *ImportCmd) Run() error {
	if _, err := image.ParseLocal(c.Name); err != nil {
		return err
	}
	file, err := filepath.Abs(c.File)
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	s, err := imageStore()
	if err == nil {
		err = s.Init()
	}
	if err != nil {
		return err
	}
	id, err := runImageHelper(context.Background(), imageMaps(c.Map), "import", s.Dir, file, c.Name)
	if err != nil {
		return fmt.Errorf("import %s: %w", quote.Short(c.File, 120), err)
	}
	fmt.Println(id)
	return nil
}

// ImagesCmd is `sandbox images`.
type ImagesCmd struct {
	JSON bool `name:"json" help:"One JSON array, for scripts."`
}

type imageRow struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Digest  string    `json:"digest"`
	Created time.Time `json:"created,omitzero"`
	Size    int64     `json:"size"`
	Layers  int       `json:"layers"`
}

// Run lists the images with podman's columns.
func (c *ImagesCmd) Run() error {
	s, err := imageStore()
	if err != nil {
		return err
	}
	imgs, lerr := s.List()
	var rows []imageRow
	for _, img := range imgs {
		r := imageRow{Name: img.Name, ID: img.ID, Digest: img.Manifest.Digest, Size: s.Size(img), Layers: len(img.Layers)}
		if img.Config.Created != nil {
			r.Created = *img.Config.Created
		}
		rows = append(rows, r)
	}
	if c.JSON {
		if rows == nil {
			rows = []imageRow{}
		}
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return lerr
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, r := range rows {
		repo, tag := splitName(r.Name)
		created := "-"
		if !r.Created.IsZero() {
			created = ago(time.Since(r.Created))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\n", quote.Name(repo), quote.Name(tag), strings.TrimPrefix(r.ID, "sha256:"), created, human(uint64(r.Size)))
	}
	tw.Flush()
	return lerr
}

// splitName cuts an image name into podman's REPOSITORY and TAG.
func splitName(n string) (string, string) {
	if i := strings.LastIndexByte(n, '@'); i >= 0 {
		return n[:i], "<none>"
	}
	if strings.HasPrefix(n, image.OCI+":") || strings.HasPrefix(n, image.OCIArchive+":") || strings.HasPrefix(n, image.DockerArchive+":") {
		return n, "<none>"
	}
	if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
		return n[:i], n[i+1:]
	}
	return n, "<none>"
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "seconds ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	default:
		return fmt.Sprintf("%d months ago", int(d.Hours()/24/30))
	}
}

// RmiCmd is `sandbox rmi REF...`.
type RmiCmd struct {
	Refs []string `arg:"" help:"Images, by name or ID." placeholder:"REF"`
}

// Run drops the names and removes the layers no other image uses.
func (c *RmiCmd) Run() error {
	s, err := imageStore()
	if err != nil {
		return err
	}
	names, err := s.Untag(c.Refs)
	if errors.Is(err, image.ErrNotFound) {
		return fmt.Errorf("rmi: %w (see sandbox images)", err)
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Println("removed", quote.Name(n))
	}
	g, err := collect(context.Background(), s)
	if g.Busy > 0 {
		fmt.Fprintf(os.Stderr, "sandbox: note: %d layers are in use by a running sandbox; sandbox image prune removes them once it ends\n", g.Busy)
	}
	return err
}

// ImageCmd is `sandbox image prune|inspect`.
type ImageCmd struct {
	Prune   ImagePruneCmd   `cmd:"" help:"Remove the layers no image uses and what killed pulls left."`
	Inspect ImageInspectCmd `cmd:"" help:"Print an image's name, ID, configuration and layers as JSON."`
}

// ImagePruneCmd is `sandbox image prune`.
type ImagePruneCmd struct{}

// Run removes what no image uses.
func (ImagePruneCmd) Run() error {
	s, err := imageStore()
	if err != nil {
		return err
	}
	g, err := collect(context.Background(), s)
	if err != nil {
		return err
	}
	fmt.Printf("removed %d unused layers and temporary directories\n", len(g.Dirs))
	if g.Busy > 0 {
		fmt.Printf("%d unused layers are held by a running sandbox or pull\n", g.Busy)
	}
	return nil
}

// ImageInspectCmd is `sandbox image inspect REF`.
type ImageInspectCmd struct {
	Ref string `arg:"" help:"The image, by name or ID." placeholder:"REF"`
}

// Run prints the image as JSON.
func (c *ImageInspectCmd) Run() error {
	s, err := imageStore()
	if err != nil {
		return err
	}
	l, err := s.Lock(false)
	if err != nil {
		return err
	}
	img, err := s.Lookup(c.Ref)
	l.Unlock()
	if err != nil {
		return fmt.Errorf("image inspect: %w (see sandbox images)", err)
	}
	b, err := json.MarshalIndent(map[string]any{
		"Name": img.Name, "Id": img.ID, "Digest": img.Manifest.Digest,
		"Created": img.Config.Created, "Architecture": img.Config.Architecture, "Os": img.Config.OS,
		"Config": img.Config.Config, "RootFS": img.Config.RootFS, "ChainIDs": img.Chains,
		"Size": s.Size(img),
	}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
