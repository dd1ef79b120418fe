package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"sandbox/layers"
	"sandbox/quote"
)

// checkBase refuses to run in the named sandbox sb over another root than the
// one its layers were made over: the host's tree (runs without --image or
// --rootfs), one --rootfs tree (its layer marked, layers.Sandbox.RootLayer)
// or one image. Its layers are changes to that root: over another, a host run
// would not see the image's changes at all, and an image's layer over other
// layers would show its whiteouts and copies over files they were not made
// from; diff would mix both. A stacked layer records the image's layers
// (layers.Sandbox.StackLayer), keyed by the top one, whose chain ID names the
// whole image. Called with sb locked, before the run changes anything.
func (r *RunCmd) checkBase(sb *layers.Sandbox) error {
	ls, err := sb.Layers()
	if err != nil {
		return err
	}
	want := "" // the top layer of this run's image; "" for the host's tree
	if r.image != nil && len(r.image.Layers) > 0 {
		want = r.image.Layers[len(r.image.Layers)-1]
	}
	wantRoot := "" // this run's --rootfs tree, as rootfsLayer resolves it
	if r.Rootfs != "" && r.image == nil {
		if dir, err := resolveSource(absUnder(mustGetwd(), r.Rootfs)); err == nil {
			wantRoot = dir
		}
	}
	fix := fmt.Sprintf("give another --name, or remove it first with sandbox rm %s", quote.Name(sb.Name))
	this := "on the host's tree"
	switch {
	case wantRoot != "":
		this = "over --rootfs " + quote.Short(wantRoot, 120)
	case r.image != nil:
		this = "on image " + quote.Short(r.image.Name, 120)
	}
	for _, l := range ls {
		have := stackTop(l)
		// A --rootfs tree first: its layer is keyed by the tree's host
		// path, as a host directory's is, and only its mark (RootLayer)
		// tells them apart.
		switch {
		case l.Root && l.HostPath == wantRoot:
			continue
		case l.Root:
			return fmt.Errorf("sandbox %s was made over --rootfs %s; this run is %s: %s", quote.Name(sb.Name), quote.Short(l.HostPath, 120), this, fix)
		case wantRoot != "" && have != "":
			return fmt.Errorf("sandbox %s was made over image %s; this run is %s: %s", quote.Name(sb.Name), imageOfLayer(have), this, fix)
		case wantRoot != "":
			return fmt.Errorf("sandbox %s was made by runs on the host's tree; this run is %s: %s", quote.Name(sb.Name), this, fix)
		}
		if have == want {
			continue
		}
		switch {
		case want == "":
			return fmt.Errorf("sandbox %s was made over image %s; this run is on the host's tree (no --image): %s", quote.Name(sb.Name), imageOfLayer(have), fix)
		case have == "":
			return fmt.Errorf("sandbox %s was made by runs without --image; this run is on image %s: %s", quote.Name(sb.Name), quote.Short(r.image.Name, 120), fix)
		default:
			return fmt.Errorf("sandbox %s was made over image %s, not %s: %s", quote.Name(sb.Name), imageOfLayer(have), quote.Short(r.image.Name, 120), fix)
		}
	}
	return nil
}

// stackTop is the top layer of the image a sandbox's layer was made over, or
// "" for a layer over a host directory. A layer whose stack file a crash kept
// from being written is known by its key, a directory of the image store.
func stackTop(l layers.Layer) string {
	if len(l.Lowers) > 0 {
		return l.Lowers[0]
	}
	if s, err := imageStore(); err == nil && strings.HasPrefix(l.HostPath, s.Dir+"/") {
		return l.HostPath
	}
	return ""
}

// imageOfLayer names the stored image whose top layer is top, or says that
// none is (the image was removed, or pulled again with other layers since).
func imageOfLayer(top string) string {
	chain := filepath.Base(filepath.Dir(top)) // layers/CHAIN/diff
	if s, err := imageStore(); err == nil {
		if imgs, err := s.List(); err == nil {
			for _, img := range imgs {
				if n := len(img.Layers); n > 0 && img.Layers[n-1] == top {
					return quote.Short(img.Name, 120)
				}
			}
		}
	}
	return fmt.Sprintf("(top layer %.12s, no longer in the store)", chain)
}
