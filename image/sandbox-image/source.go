package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"sandbox/image"
	"sandbox/image/unpack"
)

// platform is the image a multi-platform index offers for this machine.
func platform() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// open returns the image ref names. An oci-archive is unpacked into tmp
// (the pull's own directory) first.
func open(ctx context.Context, ref image.Ref, tmp string, ids unpack.IDs) (v1.Image, error) {
	switch ref.Transport {
	case image.Docker:
		r, err := name.ParseReference(ref.Name(), name.StrictValidation)
		if err != nil {
			return nil, err
		}
		return remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(platform()),
			remote.WithAuthFromKeychain(authn.DefaultKeychain))
	case image.OCI:
		return fromLayout(ref.Path, ref.Tag)
	case image.OCIArchive:
		dir := filepath.Join(tmp, "archive")
		if err := extractArchive(ref.Path, dir, ids); err != nil {
			return nil, err
		}
		return fromLayout(dir, ref.Tag)
	case image.DockerArchive:
		var tag *name.Tag
		if ref.Tag != "" {
			t, err := name.NewTag(ref.Tag)
			if err != nil {
				return nil, err
			}
			tag = &t
		}
		return tarball.ImageFromPath(ref.Path, tag)
	}
	return nil, fmt.Errorf("transport %q cannot be pulled", ref.Transport)
}

// fromLayout finds the image tagged tag (the only one when tag is empty) in
// an OCI layout, through a platform index if there is one.
func fromLayout(dir, tag string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if tag == "" || d.Annotations[image.AnnotationRefName] == tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("no image tagged %q in %s", tag, dir)
	case len(found) == 0:
		return nil, fmt.Errorf("no image in %s", dir)
	case len(found) > 1:
		return nil, fmt.Errorf("%d images in %s: name one with :TAG", len(found), dir)
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		sub, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return pickPlatform(sub)
	}
	return idx.Image(d.Digest)
}

func pickPlatform(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	want := platform()
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(want) && d.MediaType.IsImage() {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for %s/%s in the index", want.OS, want.Architecture)
}

// extractArchive unpacks an oci-archive (a tar of a layout) into dir, with the
// same checks as a layer.
func extractArchive(file, dir string, ids unpack.IDs) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if _, err := unpack.Layer(f, dir, ids); err != nil {
		return fmt.Errorf("read archive %s: %w", file, err)
	}
	return nil
}

var errInterrupted = errors.New("interrupted")
