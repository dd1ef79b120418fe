package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"sandbox/image"
	"sandbox/image/unpack"
)

// pull copies the image ref names into the store at storeDir: each layer not
// yet there is unpacked (in parallel) and checked, then the image is named.
func pull(ctx context.Context, storeDir, refText string, quiet bool) error {
	ref, err := image.Parse(refText)
	if err != nil {
		return err
	}
	ids, err := unpack.NamespaceIDs()
	if err != nil {
		return err
	}
	s := image.Store{Dir: storeDir}
	w, err := s.NewWork()
	if err != nil {
		return err
	}
	err = pullInto(ctx, s, w, ref, ids, newProgress(quiet, ref.Name()))
	os.RemoveAll(w.Dir)
	w.Close()
	if err != nil {
		// Layers this pull published are complete but unnamed: gone too.
		if g, cerr := s.Collect(); cerr == nil {
			for _, d := range g.Dirs {
				os.RemoveAll(d)
			}
		}
	}
	return err
}

func pullInto(ctx context.Context, s image.Store, w *image.Work, ref image.Ref, ids unpack.IDs, pr *progress) error {
	img, err := open(ctx, ref, w.Dir, ids)
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var c image.Config
	if err := json.Unmarshal(config, &c); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if c.OS != "" && c.OS != "linux" {
		return fmt.Errorf("the image is for %s, not linux", c.OS)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("list layers: %w", err)
	}
	if len(layers) != len(c.RootFS.DiffIDs) {
		return fmt.Errorf("the config names %d layers, the manifest %d", len(c.RootFS.DiffIDs), len(layers))
	}
	manifest, err := manifestOf(img, ref, config, c)
	if err != nil {
		return err
	}
	chains := image.ChainIDs(c.RootFS.DiffIDs)
	var todo []int
	for i, ch := range chains {
		if !w.Have(ch) {
			todo = append(todo, i)
		}
	}
	pr.start(len(todo))
	// A registry's layers, 3 at a time: each blob costs round trips, which
	// the others' transfers and unpacking fill (130 one-file layers from a
	// registry 50 ms away: 8.2-9.7 s one at a time, 2.9-3.8 s with 3). A
	// file's (oci:, archives) one at a time: unpacking alone gains nothing
	// from more here and costs kernel time (an 8-layer Debian 12 from an
	// OCI layout, medians of 5 on this 2-core machine: 6.2 s and 0.8 s of
	// system time alone, 6.4 s and 2.1 s two at a time, 8.6 s and 3.0 s
	// with 3).
	width := 1
	if ref.Remote() {
		width = 3
	}
	err = parallel(ctx, width, todo, func(i int) error {
		return unpackLayer(w, layers[i], c.RootFS.DiffIDs[i], chains[i], ids, pr)
	})
	pr.done()
	if err != nil {
		return err
	}
	if err := w.Publish(ref.Name(), manifest, config); err != nil {
		return err
	}
	fmt.Println(image.Digest(config))
	return nil
}

// manifestOf returns the manifest to store: the source's, checked against a
// digest the reference names; for a docker-archive (whose manifest would be
// computed by compressing every layer) one that names each layer by its
// DiffID, uncompressed.
func manifestOf(img v1.Image, ref image.Ref, config []byte, c image.Config) ([]byte, error) {
	if ref.Transport != image.DockerArchive {
		m, err := img.RawManifest()
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if ref.Digest != "" && image.Digest(m) != ref.Digest {
			return nil, fmt.Errorf("manifest digest mismatch: asked for %s, got %s", ref.Digest, image.Digest(m))
		}
		return m, nil
	}
	return ownManifest(config, c.RootFS.DiffIDs, nil)
}

// ownManifest is an OCI manifest of uncompressed layers named by DiffID.
func ownManifest(config []byte, diffIDs []string, sizes []int64) ([]byte, error) {
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaManifest,
		Config: image.Descriptor{MediaType: image.MediaConfig, Digest: image.Digest(config), Size: int64(len(config))}}
	for i, d := range diffIDs {
		var n int64
		if i < len(sizes) {
			n = sizes[i]
		}
		m.Layers = append(m.Layers, image.Descriptor{MediaType: image.MediaLayer, Digest: d, Size: n})
	}
	return json.Marshal(m)
}

// unpackLayer unpacks one layer into the pull's directory, checks its DiffID
// (and, reading to the end, the compressed digest the source checks), and
// publishes it.
func unpackLayer(w *image.Work, l v1.Layer, diffID, chain string, ids unpack.IDs, pr *progress) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer %.19s: %w", diffID, err)
	}
	defer rc.Close()
	tmp := w.LayerTemp(chain)
	if err := mkLayerDirs(tmp); err != nil {
		return err
	}
	h := sha256.New()
	r := io.TeeReader(pr.counter(rc), h)
	st, err := unpack.Layer(r, filepath.Join(tmp, "diff"), ids)
	if err == nil {
		_, err = io.Copy(io.Discard, r) // the tar's padding, and the digest check at EOF
	}
	if err == nil {
		err = rc.Close()
	}
	if err != nil {
		return fmt.Errorf("layer %.19s: %w", diffID, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return fmt.Errorf("layer %.19s: digest mismatch: the config says %s, the layer hashes to %s", diffID, diffID, got)
	}
	pr.note(st)
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(st.Size, 10)+"\n"), 0o600); err != nil {
		return err
	}
	if err := w.PublishLayer(chain); err != nil {
		return err
	}
	pr.layerDone()
	return nil
}

// parallel runs f on each item, at most width at a time, and returns the
// first error; the others stop at their next item. Each layer is unpacked
// into a directory of its own and published under its chain ID, which names
// its content whatever the order: the image is named only once all are.
func parallel(ctx context.Context, width int, items []int, f func(int) error) error {
	work := make(chan int)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(width, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range items {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return errInterrupted
	}
	return first
}

// mkLayerDirs makes a layer's directory and its tree's root: 0755, what a
// layer whose tar has no "./" entry gets (as docker does), since the
// overlay's root shows it.
func mkLayerDirs(tmp string) error {
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	return os.Chmod(diff, 0o755)
}
