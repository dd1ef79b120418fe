package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Store is the image store of the package doc.
type Store struct {
	Dir string // STORE/.images
}

// Open returns the image store below the sandbox store root (layers.Store.Root).
// It creates nothing: see Init.
func Open(storeRoot string) Store { return Store{Dir: filepath.Join(storeRoot, ".images")} }

// Media types written and read.
const (
	MediaIndex        = "application/vnd.oci.image.index.v1+json"
	MediaManifest     = "application/vnd.oci.image.manifest.v1+json"
	MediaConfig       = "application/vnd.oci.image.config.v1+json"
	MediaLayer        = "application/vnd.oci.image.layer.v1.tar"
	MediaDockerManif  = "application/vnd.docker.distribution.manifest.v2+json"
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// Descriptor points at a blob (image-spec descriptor.md).
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Index is index.json.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an image manifest, OCI or Docker schema 2.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Config is the part of an image configuration sandbox uses.
type Config struct {
	Created      *time.Time `json:"created,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Config       RunConfig  `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// RunConfig is how the image says to run it.
type RunConfig struct {
	User       string            `json:"User,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// Init makes the store's directories and its oci-layout file.
func (s Store) Init() error {
	for _, d := range []string{s.Dir, filepath.Join(s.Dir, "blobs", "sha256"), filepath.Join(s.Dir, "layers"), filepath.Join(s.Dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create image store: %w", err)
		}
	}
	p := filepath.Join(s.Dir, "oci-layout")
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return writeAtomic(p, []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n"))
	}
	return nil
}

// Lock is a held flock.
type Lock struct{ f *os.File }

// Lock takes the store lock: exclusive to change the index or remove, shared
// to resolve. It waits: writers hold it only briefly.
func (s Store) Lock(exclusive bool) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, fs.ErrNotExist) && !exclusive {
		return &Lock{}, nil // no store yet: nothing to protect
	}
	if err != nil {
		return nil, fmt.Errorf("open the image store lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the image store: %w", err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}

// ReadIndex reads index.json; a missing one is an empty index.
func (s Store) ReadIndex() (Index, error) {
	var idx Index
	b, err := readFile(filepath.Join(s.Dir, "index.json"), 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return Index{SchemaVersion: 2, MediaType: MediaIndex}, nil
	}
	if err != nil {
		return idx, fmt.Errorf("read the image index: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("read the image index %s: %w", filepath.Join(s.Dir, "index.json"), err)
	}
	return idx, nil
}

func (s Store) writeIndex(idx Index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Dir, "index.json"), append(b, '\n'))
}

// blobPath is where a blob of digest "sha256:HEX" lives.
func (s Store) blobPath(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || !isHex(hex, 64) {
		return "", fmt.Errorf("digest %.80q: only sha256 is supported", digest)
	}
	return filepath.Join(s.Dir, "blobs", "sha256", hex), nil
}

// ReadBlob reads a blob and checks it against its digest.
func (s Store) ReadBlob(digest string) ([]byte, error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return nil, err
	}
	b, err := readFile(p, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", digest, err)
	}
	if got := Digest(b); got != digest {
		return nil, fmt.Errorf("blob %s is corrupt (its content hashes to %s); fix: sandbox rmi the image and pull it again", digest, got)
	}
	return b, nil
}

// Digest is the "sha256:HEX" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LayerDir is the directory of the unpacked layer with chain ID chain
// ("sha256:HEX"); its tree is LayerDir/diff.
func (s Store) LayerDir(chain string) string {
	return filepath.Join(s.Dir, "layers", strings.TrimPrefix(chain, "sha256:"))
}

// ChainIDs returns the chain ID of each layer prefix (package doc).
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = Digest([]byte(out[i-1] + " " + d))
	}
	return out
}

// readFile reads at most max bytes of a regular file, never through a
// symlink at its last component and never blocking on a FIFO.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, err
}

// writeAtomic replaces path with b: a temporary file, synced, renamed over it.
func writeAtomic(path string, b []byte) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
