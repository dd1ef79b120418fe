package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Layer is the overlay of one host directory.
type Layer struct {
	HostPath string // the overlaid host directory (lowerdir)
	Upper    string
	Work     string
}

const pathFile = "path"

// Layer returns the upper and work directories for hostPath, creating them
// and the layer's path file if missing. A new upper gets the host directory's
// permission bits: the overlay's root takes its mode from the upper.
func (sb *Sandbox) Layer(hostPath string) (upper, work string, err error) {
	if err := checkHostPath(hostPath); err != nil {
		return "", "", fmt.Errorf("create layer: %w", err)
	}
	if sb.slot != nil {
		return sb.slotLayer(hostPath)
	}
	dir := filepath.Join(sb.Dir, layersDir, encodeKey(hostPath))
	l := Layer{HostPath: hostPath, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	// The path file comes last: Layers skips a layer without one, so a
	// crash here never leaves a listed layer without its upper.
	if err := os.Mkdir(l.Upper, 0o700); err == nil {
		if info, err := os.Stat(hostPath); err == nil && info.IsDir() {
			_ = os.Chmod(l.Upper, permBits(info.Mode()))
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return "", "", fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	if err := os.Mkdir(l.Work, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", "", fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	if err := checkPathFile(dir, hostPath); err != nil {
		return "", "", err
	}
	return l.Upper, l.Work, nil
}

// checkPathFile writes the layer's path file, or checks the one there names
// hostPath: a hashed key collision must not mix two directories' changes.
func checkPathFile(dir, hostPath string) error {
	p := filepath.Join(dir, pathFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(p, []byte(hostPath+"\n"), 0o600); err != nil {
			return fmt.Errorf("create layer for %q: %w", hostPath, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create layer for %q: %w", hostPath, err)
	}
	if got := strings.TrimSuffix(string(b), "\n"); got != hostPath {
		return fmt.Errorf("create layer for %q: %s names %q", hostPath, p, got)
	}
	return nil
}

// Layers returns the sandbox's layers sorted by host path. Layers with no
// path file (a crash in Layer) are skipped: they cannot hold changes yet.
func (sb *Sandbox) Layers() ([]Layer, error) {
	root := filepath.Join(sb.Dir, layersDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	var out []Layer
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, pathFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		p := strings.TrimSuffix(string(b), "\n")
		if checkHostPath(p) != nil || encodeKey(p) != e.Name() {
			return nil, fmt.Errorf("list layers: %s names %q, which does not match its key", filepath.Join(dir, pathFile), p)
		}
		out = append(out, Layer{HostPath: p, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostPath < out[j].HostPath })
	return out, nil
}
