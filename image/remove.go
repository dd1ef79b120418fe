package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/quote"
)

// Untag drops the names of the images refs name (as Lookup finds them) from
// the index, and returns the names dropped. Nothing is dropped unless every
// ref is found.
func (s Store) Untag(refs []string) ([]string, error) {
	l, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	idx, err := s.ReadIndex()
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, r := range refs {
		d, ok := find(idx, r)
		if !ok {
			return nil, fmt.Errorf("%s: %w", quote.Short(r, 120), ErrNotFound)
		}
		drop[d.Annotations[AnnotationRefName]] = true
	}
	var names []string
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d Descriptor) bool {
		n := d.Annotations[AnnotationRefName]
		if drop[n] {
			names = append(names, n)
		}
		return drop[n]
	})
	return names, s.writeIndex(idx)
}

// Garbage is what Collect set aside for deletion.
type Garbage struct {
	Dirs []string // tmp/rm-* trees to delete (files of sub-IDs: as root of a user namespace)
	Busy int      // unused layers left because a run or pull holds them
}

// Collect removes the blobs no image names, and moves to tmp/rm-* the layers
// no image uses (unless held) and the temporary directories of pulls that
// ended (a killed pull's), for the caller to delete.
func (s Store) Collect() (Garbage, error) {
	var g Garbage
	if _, err := os.Lstat(s.Dir); err != nil {
		return g, nil // no store: nothing to collect
	}
	l, err := s.Lock(true)
	if err != nil {
		return g, err
	}
	defer l.Unlock()
	blobs, chains, err := s.used()
	if err != nil {
		return g, err
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir, "blobs", "sha256"))
	for _, e := range ents {
		if !blobs["sha256:"+e.Name()] {
			os.Remove(filepath.Join(s.Dir, "blobs", "sha256", e.Name()))
		}
	}
	ents, _ = os.ReadDir(filepath.Join(s.Dir, "layers"))
	for _, e := range ents {
		if chains["sha256:"+e.Name()] {
			continue
		}
		dir, err := s.setAside(filepath.Join(s.Dir, "layers", e.Name()), "")
		if errors.Is(err, unix.EWOULDBLOCK) {
			g.Busy++
			continue
		}
		if err != nil {
			return g, err
		}
		g.Dirs = append(g.Dirs, dir)
	}
	ents, _ = os.ReadDir(filepath.Join(s.Dir, "tmp"))
	for _, e := range ents {
		p := filepath.Join(s.Dir, "tmp", e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "rm-"):
			g.Dirs = append(g.Dirs, p)
		case strings.HasPrefix(e.Name(), "pull-"):
			if dir, err := s.setAside(p, "lock"); err == nil {
				g.Dirs = append(g.Dirs, dir)
			}
		case strings.HasPrefix(e.Name(), "mounts-"): // MountPoints' own flock
			if dir, err := s.setAside(p, ""); err == nil {
				g.Dirs = append(g.Dirs, dir)
			}
		}
	}
	return g, nil
}

// setAside renames dir to tmp/rm-RANDOM if it gets dir/lockName (dir itself
// when empty) locked without waiting.
func (s Store) setAside(dir, lockName string) (string, error) {
	p := filepath.Join(dir, lockName)
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if lockName == "" {
		flags |= unix.O_DIRECTORY
	}
	fd, err := unix.Open(p, flags, 0)
	if err == nil {
		defer unix.Close(fd)
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	} else if lockName != "" && errors.Is(err, unix.ENOENT) {
		err = nil // a pull killed before it made its lock (impossible since NewWork holds the store lock; old formats)
	}
	if err != nil {
		return "", err
	}
	to := filepath.Join(s.Dir, "tmp", "rm-"+randomHex())
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("set %s aside for removal: %w", dir, err)
	}
	return to, nil
}

// used lists the blobs and chain IDs the index's images use.
func (s Store) used() (blobs, chains map[string]bool, err error) {
	idx, err := s.ReadIndex()
	if err != nil {
		return nil, nil, err
	}
	blobs, chains = map[string]bool{}, map[string]bool{}
	for _, d := range idx.Manifests {
		blobs[d.Digest] = true
		b, err := s.ReadBlob(d.Digest)
		if err != nil {
			continue // a broken image keeps nothing alive
		}
		var m Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		blobs[m.Config.Digest] = true
		cb, err := s.ReadBlob(m.Config.Digest)
		if err != nil {
			continue
		}
		var c Config
		if json.Unmarshal(cb, &c) != nil {
			continue
		}
		for _, ch := range ChainIDs(c.RootFS.DiffIDs) {
			chains[ch] = true
		}
	}
	return blobs, chains, nil
}

// List resolves every image of the index, in index order; an image that
// cannot be read is skipped and named in the error.
func (s Store) List() ([]*Image, error) {
	l, err := s.Lock(false)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	idx, err := s.ReadIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	var errs []error
	for _, d := range idx.Manifests {
		img, err := s.resolve(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, img)
	}
	return out, errors.Join(errs...)
}

// Size is the bytes of the image's unpacked layers, as recorded when each was
// unpacked (LayerDir/size); 0 for a layer without a record.
func (s Store) Size(img *Image) int64 {
	var n int64
	for _, c := range img.Chains {
		var v int64
		if b, err := readFile(filepath.Join(s.LayerDir(c), "size"), 32); err == nil {
			fmt.Sscan(string(b), &v)
		}
		n += v
	}
	return n
}
