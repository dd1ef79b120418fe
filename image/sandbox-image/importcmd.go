package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"

	"sandbox/image"
	"sandbox/image/unpack"
)

// importFile makes a one-layer image of a root filesystem tarball (plain,
// gzip or zstd), named as `sandbox import` names it (image.ParseLocal).
func importFile(ctx context.Context, storeDir, file, nameText string) error {
	ref, err := image.ParseLocal(nameText)
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
	defer func() { os.RemoveAll(w.Dir); w.Close() }()
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	r, err := decompress(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	tmp := filepath.Join(w.Dir, "import")
	if err := mkLayerDirs(tmp); err != nil {
		return err
	}
	h := sha256.New()
	tee := io.TeeReader(r, h)
	pr := newProgress(true, ref.Name())
	st, err := unpack.Layer(tee, filepath.Join(tmp, "diff"), ids)
	if err == nil {
		_, err = io.Copy(io.Discard, tee)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	pr.note(st)
	pr.done()
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(st.Size, 10)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.LayerTemp(diffID)); err != nil {
		return err
	}
	if !w.Have(diffID) {
		if err := w.PublishLayer(diffID); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	c := image.Config{Created: &now, Architecture: runtime.GOARCH, OS: "linux"}
	c.RootFS.Type, c.RootFS.DiffIDs = "layers", []string{diffID}
	config, err := json.Marshal(c)
	if err != nil {
		return err
	}
	manifest, err := ownManifest(config, c.RootFS.DiffIDs, []int64{st.Size})
	if err != nil {
		return err
	}
	if err := w.Publish(ref.Name(), manifest, config); err != nil {
		return err
	}
	fmt.Println(image.Digest(config))
	return ctx.Err()
}

// decompress recognises gzip and zstd by their magic numbers.
func decompress(r *bufio.Reader) (io.Reader, error) {
	magic, _ := r.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return gzip.NewReader(r)
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return r, nil
}
