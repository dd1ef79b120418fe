package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/layers"
	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// ViewFlags choose the filesystem view of `sandbox run`.
type ViewFlags struct {
	Overlay string   `enum:"auto,kernel,fuse" default:"auto" help:"Copy-on-write engine: kernel overlayfs, fuse-overlayfs, or auto (kernel; fuse-overlayfs for --uid 0 or where the kernel refuses)." group:"Filesystem"`
	Cow     bool     `help:"Route the current directory through the overlay too: nothing reaches the host (without --name, the changes are kept under a generated name)." group:"Filesystem"`
	Name    string   `help:"Keep the changes in the named sandbox NAME and reuse them next time (see sandbox diff/commit/ls/rm)." placeholder:"NAME" group:"Filesystem"`
	Wait    bool     `help:"With --name: wait for another run of NAME to end instead of failing." group:"Filesystem"`
	Hide    []string `sep:"none" help:"Hide PATH inside (an empty directory or /dev/null), repeatable." placeholder:"PATH" group:"Filesystem"`
	Show    []string `sep:"none" help:"Take PATH off the hidden-by-default list, repeatable." placeholder:"PATH" group:"Filesystem"`
	TmpSize string   `name:"tmp-size" help:"Size of each tmpfs of the run: /tmp, /dev/shm, --tmpfs, and the memory that holds an ephemeral run's copy-on-write layers (512M, 2G, or 25% of RAM; default 50%)." placeholder:"SIZE" group:"Filesystem"`
	Quiet   bool     `help:"Say nothing at exit of what an ephemeral run discarded." group:"Filesystem"`
	Rootfs  string   `help:"Use DIR (a debootstrap tree, an unpacked image) as the lower layer instead of the host's /; the current directory is not bound." placeholder:"DIR" group:"Filesystem"`
}

// hiddenByDefault are the user's secrets, relative to $HOME: the command does not
// see them unless --show takes one off. ($XDG_RUNTIME_DIR is covered too.)
var hiddenByDefault = []string{
	".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube", ".docker",
	".netrc", ".git-credentials", ".password-store", ".local/share/keyrings",
	".mozilla", ".config/google-chrome", ".config/chromium",
}

// noOverlay are top-level directories that never get a copy-on-write layer:
// the sandbox mounts its own /proc, /dev and /tmp there, /sys and /run hold
// the host's live state, and the store of layers must not be layered.
var noOverlay = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/tmp": true, "/run": true, "/lost+found": true}

func (v *ViewFlags) validate() error {
	// Before any layer is opened: a bad size leaves nothing behind.
	if _, err := v.tmpSize(); err != nil {
		return err
	}
	if v.Name != "" {
		if err := layers.ValidName(v.Name); err != nil {
			return fmt.Errorf("--name %w", err)
		}
	}
	if v.Wait && v.Name == "" {
		return fmt.Errorf("--wait needs --name")
	}
	return nil
}

// view is the copy-on-write side of one run, in the parent.
type view struct {
	sb        *layers.Sandbox
	maps      userns.IDMaps // inside ID 0 at the caller: for removing what the command left
	ephemeral bool
	mem       bool     // ephemeral layers in init's memory layer, nothing on disk
	ran       bool     // the command ran: a sandbox named for --cow is kept
	announce  bool     // --cow without --name: say at exit where the changes are
	watch     *watcher // protected paths that did not exist: kept from being created
}

// planOverlays opens the sandbox's layers and returns the mounts that make the
// host copy-on-write: one overlay per top-level host directory without
// submounts (the kernel refuses a lower layer that hides locked mounts, so
// lowerdir=/ fails), or one fuse-overlayfs of the whole root.
func (r *RunCmd) planOverlays(log *slog.Logger) (*view, []userns.Mount, error) {
	store, err := layers.DefaultStore()
	if err != nil {
		return nil, nil, err
	}
	v := &view{}
	name := r.Name
	if name == "" && r.Cow {
		// The second alone named two runs alike: they shared a sandbox
		// (issue 19).
		name = fmt.Sprintf("cow-%s-%06x", time.Now().Format("20060102-150405"), rand.IntN(1<<24))
		v.announce = true
	}
	// An image is always the kernel overlay's (its map is fixed).
	fuse := r.image == nil && (r.Overlay == "fuse" || (r.Overlay == "auto" && r.UID == 0))
	if name == "" && !fuse && r.Rootfs == "" && memLayerOK(log) {
		// In memory: no slot of the store, no disk (issue 15). What
		// killed runs left on disk is still cleared by the next run.
		v.ephemeral, v.mem = true, true
		store.SweepEphemeral()
		removeLeftovers(store, r.Map)
		if r.image != nil {
			m, err := r.imageLayer(v)
			if err != nil {
				return nil, nil, err
			}
			return v, []userns.Mount{m}, nil
		}
		return v, memMounts(overlayDirs(log)), nil
	}
	if name == "" {
		v.sb, err = store.Ephemeral()
		v.ephemeral = true
		removeLeftovers(store, r.Map)
	} else if v.sb, err = store.Open(name); err == nil {
		err = v.sb.Lock(r.Wait)
		if err == nil {
			// Before BeginRun: a refused run changes nothing.
			err = r.checkBase(v.sb)
		}
	}
	if err == nil && !v.ephemeral {
		// Bounds the conflict check of a later commit; an ephemeral
		// layer is never committed.
		err = v.sb.BeginRun()
	}
	if errors.Is(err, fs.ErrPermission) {
		err = fmt.Errorf("%w; fix: make %s writable (chmod u+w), or set XDG_DATA_HOME to a writable directory", err, store.Root)
	}
	if err == nil && !fuse {
		if xerr := layers.CheckUserXattrs(v.sb.Dir); errors.Is(xerr, layers.ErrNoUserXattrs) {
			err = fmt.Errorf("the layers' directory %v, which the kernel overlay needs; fix: set XDG_DATA_HOME to a directory on a disk filesystem, or use --overlay fuse", xerr)
		}
	}
	if err != nil {
		v.close(nil, 0)
		return nil, nil, err
	}
	if r.Rootfs != "" || r.image != nil {
		m, err := r.rootfsLayer(v)
		if err != nil {
			v.close(nil, 0)
			return nil, nil, err
		}
		return v, []userns.Mount{m}, nil
	}
	if fuse {
		log.Debug("overlay: fuse-overlayfs of /", "why", map[bool]string{true: "--uid 0: root inside may modify files of IDs outside the map", false: "--overlay fuse"}[r.Overlay == "auto"])
		upper, work, err := v.sb.Layer("/")
		if err != nil {
			v.close(nil, 0)
			return nil, nil, err
		}
		return v, []userns.Mount{{Kind: userns.Overlay, Src: "/", Dst: "/", Upper: upper, Work: work, Fuse: true, Squash: r.UID == 0}}, nil
	}
	mounts := []userns.Mount{{Kind: userns.Bind, Src: "/", Dst: "/", ReadOnly: true}}
	for _, dir := range overlayDirs(log) {
		upper, work, err := v.sb.Layer(dir)
		if err != nil {
			v.close(nil, 0)
			return nil, nil, err
		}
		mounts = append(mounts, userns.Mount{Kind: userns.Overlay, Src: dir, Dst: dir, Upper: upper, Work: work,
			FuseFallback: r.Overlay == "auto"})
	}
	return v, mounts, nil
}

// close records the run and removes an ephemeral sandbox.
func (v *view) close(argv []string, status int) {
	if v == nil {
		return
	}
	for _, note := range v.watch.stop() {
		fmt.Fprintln(os.Stderr, note)
	}
	v.watch = nil
	if v.sb == nil {
		return
	}
	if v.ephemeral {
		// Back to the pool of ephemeral slots, emptied: the next run reuses
		// the layer directories instead of making and removing them.
		err := v.sb.Release()
		if err != nil && v.maps.UID != nil {
			// Files the command made as other IDs: Release set the slot
			// aside; remove it as root of a namespace with our map.
			if rerr := userns.RemoveAll(context.Background(), v.maps, v.sb.Dir); rerr == nil {
				err = v.sb.Release()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: note: remove ephemeral layer: %v (removed at the next run at the latest)\n", err)
		}
		return
	}
	if v.announce && !v.ran {
		// Named for this run (--cow), which never ran: nothing to keep.
		name := v.sb.Name
		v.sb.Unlock()
		if store, err := layers.DefaultStore(); err == nil {
			_ = store.Remove(name)
		}
		return
	}
	if argv != nil {
		_ = v.sb.SetLastRun(argv, status)
	}
	v.sb.Unlock()
	if v.announce {
		fmt.Fprintf(os.Stderr, "sandbox: changes kept in sandbox %s: review with `sandbox diff %s`, apply with `sandbox commit %s`, drop with `sandbox rm %s`\n",
			v.sb.Name, v.sb.Name, v.sb.Name, v.sb.Name)
	}
}

// overlayDirs lists the top-level directories of / that get a layer: real
// directories (not symlinks such as /lib -> usr/lib), not in noOverlay, that
// the caller may enter, with no mount below them. A directory that is itself a mount point (a separate /home)
// is fine as long as nothing is mounted inside it.
func overlayDirs(log *slog.Logger) []string {
	mounts := mountPoints()
	ents, err := os.ReadDir("/")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, e := range ents {
		dir := "/" + e.Name()
		if !e.IsDir() || noOverlay[dir] {
			continue
		}
		if m := mountBelow(mounts, dir); m != "" {
			log.Debug("overlay: left read-only: a mount lies below it", "dir", dir, "mount", m)
			continue
		}
		if unix.Access(dir, unix.X_OK) != nil {
			// Nothing below it is reachable for us (/root, mode 0700):
			// a layer would only cost a mount, and its root, the upper
			// we own, would open it to the command.
			log.Debug("overlay: left read-only: you cannot enter it", "dir", dir)
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func mountBelow(mounts []string, dir string) string {
	for _, m := range mounts {
		if strings.HasPrefix(m, dir+"/") {
			return m
		}
	}
	return ""
}

// mountPoints reads the mount points of our mount namespace.
func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, systemdcgroup.UnescapeMountinfo(fields[4]))
		}
	}
	return out
}

// hideMounts covers the default secrets (less --show) and every --hide.
func (r *RunCmd) hideMounts(cwd string) ([]userns.Mount, error) {
	home, _ := os.UserHomeDir()
	show := map[string]bool{}
	for _, s := range r.Show {
		show[absUnder(cwd, s)] = true
	}
	var paths []string
	if home != "" {
		for _, h := range hiddenByDefault {
			paths = append(paths, filepath.Join(home, h))
		}
	}
	for _, h := range r.Hide {
		if strings.ContainsAny(h, "\x00\n") {
			return nil, fmt.Errorf("--hide %q: path contains a NUL or newline", h)
		}
		paths = append(paths, absUnder(cwd, h))
	}
	var out []userns.Mount
	for _, p := range paths {
		if show[p] {
			continue
		}
		// Resolved on the host, so a symlink planted towards the secret
		// (or from it) hides the real thing.
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue // not there: nothing to hide
		}
		out = append(out, userns.Mount{Kind: userns.Hide, Src: real, Dst: real})
	}
	return out, nil
}

func absUnder(cwd, p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}

// rootfsLayer is the whole root as one overlay of DIR: a plain directory tree
// has no mounts below it, so the kernel takes it as one lower layer (fuse with
// --overlay fuse or for --uid 0, as for the host).
func (r *RunCmd) rootfsLayer(v *view) (userns.Mount, error) {
	if r.image != nil {
		return r.imageLayer(v)
	}
	dir, err := resolveSource(absUnder(mustGetwd(), r.Rootfs))
	if err != nil {
		return userns.Mount{}, fmt.Errorf("--rootfs %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return userns.Mount{}, fmt.Errorf("--rootfs %s: not a directory", r.Rootfs)
	}
	if dir == "/" {
		return userns.Mount{}, fmt.Errorf("--rootfs /: that is the default view; drop --rootfs")
	}
	if m := mountBelow(mountPoints(), dir); m != "" {
		return userns.Mount{}, fmt.Errorf("--rootfs %s: %s is mounted inside it; the overlay cannot cover a tree with mounts (unmount it, or use a copy)", r.Rootfs, m)
	}
	upper, work, err := v.sb.RootLayer(dir)
	if err != nil {
		return userns.Mount{}, err
	}
	fuse := r.Overlay == "fuse" || (r.Overlay == "auto" && r.UID == 0)
	return userns.Mount{Kind: userns.Overlay, Src: dir, Dst: "/", Upper: upper, Work: work,
		Fuse: fuse, Squash: fuse && r.UID == 0, FuseFallback: r.Overlay == "auto"}, nil
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// removeLeftovers removes what the pool could not: slots of killed runs set
// aside (".old-*") because they hold files a command made as other IDs, which
// belong to sub-IDs on the host. Root of a user namespace with our map can
// remove them. Rare: only after a killed run that changed owners.
func removeLeftovers(store layers.Store, mapMode string) {
	old, _ := filepath.Glob(filepath.Join(store.Root, ".ephemeral", ".old-*"))
	if len(old) == 0 {
		return
	}
	maps, err := planMapsQuiet(mapMode, uint32(os.Getuid()), uint32(os.Getgid()))
	if err == nil {
		_ = userns.RemoveAll(context.Background(), maps, old...)
	}
}
