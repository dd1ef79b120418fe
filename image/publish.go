package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"sandbox/quote"
)

// Work is the temporary directory of one pull or import (tmp/pull-RANDOM),
// locked while it lives, and the layers it holds for its image.
type Work struct {
	s    Store
	Dir  string
	lock *os.File
	held []*os.File
}

// NewWork makes the directory of a pull and locks it. It is made under the
// store lock, so a concurrent removal never sees it unlocked.
func (s Store) NewWork() (*Work, error) {
	if err := s.Init(); err != nil {
		return nil, err
	}
	l, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	dir := filepath.Join(s.Dir, "tmp", "pull-"+randomHex())
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create a temporary directory for the pull: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock the pull's temporary directory: %w", err)
	}
	return &Work{s: s, Dir: dir, lock: f}, nil
}

// LayerTemp is where a layer of chain ID chain is unpacked before it is
// published: LayerTemp(chain)/diff is the tree.
func (w *Work) LayerTemp(chain string) string {
	return filepath.Join(w.Dir, hexOf(chain))
}

// Have holds the published layer chain if the store has it, and reports
// whether it does.
func (w *Work) Have(chain string) bool {
	f, err := holdLayer(w.s.LayerDir(chain))
	if err != nil {
		return false
	}
	w.held = append(w.held, f)
	return true
}

// PublishLayer moves an unpacked layer from LayerTemp into the store and
// holds it. If another pull published it first, that one is kept.
func (w *Work) PublishLayer(chain string) error {
	dst := w.s.LayerDir(chain)
	err := unix.Renameat2(unix.AT_FDCWD, w.LayerTemp(chain), unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("publish layer %.12s: %w", hexOf(chain), err)
	}
	if !w.Have(chain) {
		return fmt.Errorf("publish layer %.12s: it went away at once", hexOf(chain))
	}
	return nil
}

// Publish writes the image's manifest and config into the store and names it.
// Every layer must be published (and held) already.
func (w *Work) Publish(name string, manifest, config []byte) error {
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	if got := Digest(config); got != m.Config.Digest {
		return fmt.Errorf("config digest mismatch: the manifest says %s, the config hashes to %s", m.Config.Digest, got)
	}
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	for _, ch := range ChainIDs(c.RootFS.DiffIDs) {
		if st, err := os.Lstat(filepath.Join(w.s.LayerDir(ch), "diff")); err != nil || !st.IsDir() {
			return fmt.Errorf("layer %.12s is not in the store", hexOf(ch))
		}
	}
	mt := m.MediaType
	if mt == "" {
		mt = MediaManifest
	}
	l, err := w.s.Lock(true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	for _, b := range [][]byte{manifest, config} {
		p, _ := w.s.blobPath(Digest(b))
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := writeAtomic(p, b); err != nil {
			return err
		}
	}
	idx, err := w.s.ReadIndex()
	if err != nil {
		return err
	}
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d Descriptor) bool { return d.Annotations[AnnotationRefName] == name })
	idx.Manifests = append(idx.Manifests, Descriptor{
		MediaType: mt, Digest: Digest(manifest), Size: int64(len(manifest)),
		Annotations: map[string]string{AnnotationRefName: name, annotationID: m.Config.Digest},
	})
	if idx.SchemaVersion == 0 {
		idx.SchemaVersion, idx.MediaType = 2, MediaIndex
	}
	if err := w.s.writeIndex(idx); err != nil {
		return fmt.Errorf("name image %s: %w", quote.Short(name, 120), err)
	}
	return nil
}

// Close lets go of the held layers and the work directory's lock; the caller
// has removed the directory (or the next removal in the store does).
func (w *Work) Close() {
	for _, f := range w.held {
		f.Close()
	}
	w.held = nil
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

// holdLayer opens a layer directory and takes a shared flock on it, then
// checks it is still the one at dir: a removal may have moved it away
// between the open and the lock.
func holdLayer(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	var a, b unix.Stat_t
	err = unix.Flock(fd, unix.LOCK_SH)
	if err == nil {
		err = unix.Fstat(fd, &a)
	}
	if err == nil {
		err = unix.Lstat(dir, &b)
	}
	if err == nil && (a.Ino != b.Ino || a.Dev != b.Dev) {
		err = fs.ErrNotExist
	}
	if err == nil {
		_, err = os.Lstat(filepath.Join(dir, "diff"))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func hexOf(digest string) string {
	if len(digest) > 7 && digest[:7] == "sha256:" {
		return digest[7:]
	}
	return digest
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
