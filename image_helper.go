package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
	"sandbox/image"
	"sandbox/layers"
	"sandbox/userns"
)

// imageHelperName is the companion that pulls and imports (image/sandbox-image):
// the registry client lives there, not in sandbox, whose every start would
// pay its package initialisation.
const imageHelperName = "sandbox-image"

// imageStore is the image store below the sandbox store root.
func imageStore() (image.Store, error) {
	st, err := layers.DefaultStore()
	if err != nil {
		return image.Store{}, err
	}
	return image.Open(st.Root), nil
}

// findImageHelper looks for sandbox-image next to the running sandbox, then
// on PATH (as sandbox-netstack is found).
func findImageHelper() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), imageHelperName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(imageHelperName); err == nil {
		return p, nil
	}
	return "", errors.New(`sandbox-image not found next to sandbox or on PATH; fix: go build -o "$(dirname "$(command -v sandbox)")/sandbox-image" ./image/sandbox-image`)
}

// imageMaps is the ID map of every image run and of the unpacking: image
// root is the caller, image IDs 1, 2, ... the caller's sub-IDs in order,
// whatever --uid says, so a layer's files have the owners the image gives
// them in every run. Without sub-IDs, one line says that every file belongs
// to the caller.
func imageMaps(mapMode string) userns.IDMaps {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if mapMode != "single" {
		if maps, why := subIDMaps(0, 0, uid, gid); why == "" {
			return maps
		} else if mapMode == "auto" {
			fmt.Fprintf(os.Stderr, "sandbox: note: image files of other owners belong to you (a single-ID map): %s\n", why)
		}
	}
	return userns.IDMaps{UID: idmap.Single(0, uid), GID: idmap.Single(0, gid)}
}

// runImageHelper runs sandbox-image with args as root of a user namespace
// with maps, and returns what it printed on stdout (the image ID). Its error
// comes back as one line on fd 4.
func runImageHelper(ctx context.Context, maps userns.IDMaps, args ...string) (string, error) {
	bin, err := findImageHelper()
	if err != nil {
		return "", err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer errR.Close()
	var out bytes.Buffer
	cmd := &exec.Cmd{
		Path: bin, Args: append([]string{imageHelperName}, args...),
		Env:    append(os.Environ(), "_SANDBOX_IMAGE=1"),
		Stdout: &out, Stderr: os.Stderr,
		ExtraFiles: []*os.File{errW}, // fd 4 (3 is the sync pipe)
	}
	// Root's rights over the layers' files of every mapped ID: chown,
	// mknod of whiteouts, setuid bits kept after a chown.
	caps := []uintptr{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
		unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_MKNOD}
	err = userns.StartMapped(ctx, maps, cmd, caps)
	errW.Close()
	if err != nil {
		return "", err
	}
	msg, _ := io.ReadAll(io.LimitReader(errR, 4096))
	werr := cmd.Wait()
	if len(msg) > 0 {
		return "", errors.New(string(msg))
	}
	if werr != nil {
		return "", fmt.Errorf("%s: %w", imageHelperName, werr)
	}
	return strings.TrimSpace(out.String()), nil
}

// pullImage pulls ref into the store.
func pullImage(ctx context.Context, ref image.Ref, mapMode string, quiet bool) (string, error) {
	s, err := imageStore()
	if err != nil {
		return "", err
	}
	if err := s.Init(); err != nil {
		return "", err
	}
	args := []string{"pull"}
	if quiet {
		args = append(args, "--quiet")
	}
	id, err := runImageHelper(ctx, imageMaps(mapMode), append(args, s.Dir, ref.Name())...)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	return id, nil
}

// collect removes what no image uses; the trees, which hold files of
// sub-IDs, as root of a user namespace with the image map.
func collect(ctx context.Context, s image.Store) (image.Garbage, error) {
	g, err := s.Collect()
	if err != nil || len(g.Dirs) == 0 {
		return g, err
	}
	maps, _ := planMapsQuiet("auto", uint32(os.Getuid()), uint32(os.Getgid()))
	if err := userns.RemoveAll(ctx, maps, g.Dirs...); err != nil {
		return g, fmt.Errorf("remove unused layers: %w", err)
	}
	return g, nil
}
