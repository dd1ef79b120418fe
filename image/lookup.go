package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sandbox/quote"
)

// ErrNotFound is returned by Lookup for an image the store does not hold.
var ErrNotFound = errors.New("image not in the store")

// Image is a stored image, resolved.
type Image struct {
	Name     string
	Manifest Descriptor // as in index.json
	ID       string     // the config's digest, as podman's IMAGE ID
	Config   Config
	Chains   []string // chain ID of each layer, bottom first
	Layers   []string // each layer's tree (LayerDir/diff), bottom first
}

// Lookup finds an image by reference (under localhost/ too for a short
// registry name), or by ID: "sha256:HEX" or 12 or more hex digits of it.
func (s Store) Lookup(ref string) (*Image, error) {
	idx, err := s.ReadIndex()
	if err != nil {
		return nil, err
	}
	d, ok := find(idx, ref)
	if !ok {
		return nil, fmt.Errorf("%s: %w", quote.Short(ref, 120), ErrNotFound)
	}
	return s.resolve(d)
}

// find picks the index entry for ref.
func find(idx Index, ref string) (Descriptor, bool) {
	names := map[string]Descriptor{}
	for _, d := range idx.Manifests {
		names[d.Annotations[AnnotationRefName]] = d
	}
	if r, err := Parse(ref); err == nil {
		if d, ok := names[r.Name()]; ok {
			return d, true
		}
		if r.Short && r.Transport == Docker {
			// `sandbox import` named it localhost/NAME.
			loc := r
			loc.Transport, loc.Domain = Local, Local
			if !strings.Contains(strings.TrimPrefix(ref, "docker://"), "/") {
				loc.Repo = strings.TrimPrefix(r.Repo, "library/")
			}
			if d, ok := names[loc.Name()]; ok {
				return d, true
			}
		}
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if len(id) < 12 || !isHex(id, len(id)) {
		return Descriptor{}, false
	}
	var found []Descriptor
	for _, d := range idx.Manifests {
		if strings.HasPrefix(strings.TrimPrefix(d.Annotations[annotationID], "sha256:"), id) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return Descriptor{}, false
	}
	for _, d := range found[1:] {
		if d.Annotations[annotationID] != found[0].Annotations[annotationID] {
			return Descriptor{}, false // ambiguous prefix
		}
	}
	return found[0], true
}

// annotationID records the config digest in index.json, so a lookup by ID
// reads no manifest.
const annotationID = "org.sandbox.image.id"

// resolve reads an entry's manifest and config (each checked against its
// digest) and finds its layers.
func (s Store) resolve(d Descriptor) (*Image, error) {
	name := d.Annotations[AnnotationRefName]
	b, err := s.ReadBlob(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", quote.Short(name, 120), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("image %s: read manifest: %w", quote.Short(name, 120), err)
	}
	cb, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", quote.Short(name, 120), err)
	}
	img := &Image{Name: name, Manifest: d, ID: m.Config.Digest}
	if err := json.Unmarshal(cb, &img.Config); err != nil {
		return nil, fmt.Errorf("image %s: read config: %w", quote.Short(name, 120), err)
	}
	if len(img.Config.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: the config names %d layers, the manifest %d", quote.Short(name, 120), len(img.Config.RootFS.DiffIDs), len(m.Layers))
	}
	img.Chains = ChainIDs(img.Config.RootFS.DiffIDs)
	for _, c := range img.Chains {
		img.Layers = append(img.Layers, filepath.Join(s.LayerDir(c), "diff"))
	}
	return img, nil
}

// Hold takes a shared flock on each of the image's layer directories, so that
// no removal takes them while a sandbox runs on them; close the returned
// files to let go. A missing layer is an error naming the fix.
func (s Store) Hold(img *Image) ([]*os.File, error) {
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
	}
	for _, c := range img.Chains {
		f, err := holdLayer(s.LayerDir(c))
		if err != nil {
			release()
			return nil, fmt.Errorf("image %s: layer %.12s is missing (%w); fix: sandbox pull it again", quote.Short(img.Name, 120), hexOf(c), err)
		}
		held = append(held, f)
	}
	return held, nil
}
