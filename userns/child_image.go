package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// imageOverlay mounts an image's layers (m.Lowers, top first) as the lower
// directories of one kernel overlay, m.Upper over them. The new mount API
// takes one "lowerdir+" per layer (Linux 6.8+; hundreds of layers); an older
// kernel gets one "lowerdir=" string through mount(2), which holds a page
// (some 40 layers of the store's path length).
//
// Every path is given relative to the directory all of them share (the
// store's root), made init's working directory for the call: the options in
// the command's /proc/self/mountinfo then name no path of the user's home.
func imageOverlay(m Mount) error {
	paths := append([]string{m.Upper, m.Work}, m.Lowers...)
	for i := range paths {
		paths[i] = oldRoot + paths[i]
	}
	first := 0 // the paths below the store's root: all, or the lowers
	if m.Mem {
		// An ephemeral run's upper and work in the memory layer: their
		// absolute paths there name nothing of the user's.
		if err := makeMemDirs(m.Upper, m.Work); err != nil {
			return err
		}
		paths[0], paths[1], first = m.Upper, m.Work, 2
	}
	dir := commonDir(paths[first:])
	for i := first; i < len(paths); i++ {
		rel, err := filepath.Rel(dir, paths[i])
		if err != nil {
			return fmt.Errorf("overlay layer %s: %w", paths[i], err)
		}
		paths[i] = rel
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("enter the store: %w", err)
	}
	defer unix.Chdir("/") //nolint:errcheck // "/" of the base tmpfs, always there
	upper, work, lowers := paths[0], paths[1], paths[2:]
	mnt, err := overlayLowerPlus(upper, work, lowers)
	if errors.Is(err, unix.EINVAL) {
		if legacyOptions(upper, work, lowers) >= unix.Getpagesize() {
			// Too long for one page: short names instead.
			if upper, work, lowers, err = shortLinks(dir, upper, work, lowers, m.Mem); err != nil {
				return err
			}
		}
		return overlayLegacy(upper, work, lowers, m.Dst)
	}
	if err != nil {
		return fmt.Errorf("%w (the image's layers)", err)
	}
	defer unix.Close(mnt)
	return attach(mnt, m.Dst, true)
}

// overlayLowerPlus builds the overlay with the new mount API, one
// "lowerdir+" per layer. EINVAL on the first one: the kernel lacks it.
func overlayLowerPlus(upper, work string, lowers []string) (int, error) {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open overlay: %w", err)
	}
	defer unix.Close(fs)
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fs, "lowerdir+", l); err != nil {
			return -1, fmt.Errorf("overlay lower layer %s: %w", l, err)
		}
	}
	for k, v := range map[string]string{"upperdir": upper, "workdir": work} {
		if err := unix.FsconfigSetString(fs, k, v); err != nil {
			return -1, fmt.Errorf("overlay %s: %w", k, err)
		}
	}
	if err := unix.FsconfigSetFlag(fs, "userxattr"); err != nil {
		return -1, fmt.Errorf("overlay userxattr: %w", err)
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("create overlay: %w", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("mount overlay: %w", err)
	}
	return mnt, nil
}

// legacyOptions is the length of overlayLegacy's option string.
func legacyOptions(upper, work string, lowers []string) int {
	return len(fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,userxattr", strings.Join(lowers, ":"), upper, work))
}

// shortLinksDir holds, in init's base tmpfs, one short symlink per layer.
const shortLinksDir = "/lowers"

// shortLinks makes a symlink with a short name in shortLinksDir for each
// layer (0, 1, ...; u and w for a store's upper and work) and enters that
// directory: mount(2)'s option string holds one page, which the store's layer
// names fill at some 40 layers, and the kernel follows the links when it
// looks the layers up (containers/storage's "l/" directory does the same).
// Names relative to dir (init's working directory) are made absolute first.
//
// Preconditions: after the first pivot_root (the base tmpfs is "/").
func shortLinks(dir, upper, work string, lowers []string, mem bool) (string, string, []string, error) {
	if err := os.Mkdir(shortLinksDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", nil, fmt.Errorf("create %s: %w", shortLinksDir, err)
	}
	link := func(name, target string) (string, error) {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		if err := os.Symlink(target, filepath.Join(shortLinksDir, name)); err != nil {
			return "", fmt.Errorf("link the image's layers: %w", err)
		}
		return name, nil
	}
	short := make([]string, len(lowers))
	for i, l := range lowers {
		var err error
		if short[i], err = link(strconv.Itoa(i), l); err != nil {
			return "", "", nil, err
		}
	}
	if !mem { // a store's upper and work: their paths name the user's home
		var err error
		if upper, err = link("u", upper); err != nil {
			return "", "", nil, err
		}
		if work, err = link("w", work); err != nil {
			return "", "", nil, err
		}
	}
	if err := unix.Chdir(shortLinksDir); err != nil {
		return "", "", nil, fmt.Errorf("enter %s: %w", shortLinksDir, err)
	}
	return upper, work, short, nil
}

// overlayLegacy mounts the overlay with mount(2) on dst ("/": the new root).
func overlayLegacy(upper, work string, lowers []string, dst string) error {
	if dst != "/" {
		return fmt.Errorf("an image overlay goes on /, not %s", dst)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,userxattr", strings.Join(lowers, ":"), upper, work)
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("the image has too many layers (%d) for this kernel's overlay options (Linux 6.8 takes hundreds)", len(lowers))
	}
	if err := unix.Mount("overlay", newRoot, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay of the image's layers: %w", err)
	}
	return nil
}

// commonDir is the deepest directory holding every path.
func commonDir(paths []string) string {
	dir := filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		for dir != "/" && !strings.HasPrefix(p, dir+"/") {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}
