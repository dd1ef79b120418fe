package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"sandbox/layers"
	"sandbox/userns"
)

// mounts is the whole view, in order: the host's root (read-only with a
// copy-on-write layer per directory, or one fuse-overlayfs), /proc /dev /tmp,
// the current directory read-write (unless --cow, or it is a home: see
// homeLike), the hidden secrets, then the user's --ro/--rw/--tmpfs in the
// order given. After each writable bind come the steps that keep its
// protected paths read-only (view_guard.go), so a later --rw of a protected
// path opens it, and a later --ro or --tmpfs covers both.
func (r *RunCmd) mounts(cwd string, log *slog.Logger) (*view, []userns.Mount, error) {
	v, plan, err := r.planOverlays(log)
	if err != nil {
		return nil, nil, err
	}
	storeRoot := ""
	if store, err := layers.DefaultStore(); err == nil {
		storeRoot = store.Root
	}
	show := map[string]bool{}
	for _, s := range r.Show {
		show[absUnder(cwd, s)] = true
	}
	g := newGuard(cwd, storeRoot, show)
	user, err := r.userMounts(cwd, g)
	if err != nil {
		v.close(nil, 0)
		return nil, nil, err
	}
	if r.Rootfs != "" || r.image != nil {
		// Another system's tree: nothing of the host's session belongs in it.
		plan = append(plan, userns.BasePlan("")...)
		plan, err = r.guardPlan(v, g, append(plan, user...), log)
		return v, plan, err
	}
	plan = append(plan, userns.BasePlan(runtimeDir())...)
	// /etc/resolv.conf often points into /run (systemd-resolved): bind that
	// directory back, read-only, so name resolution keeps working.
	if real, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && strings.HasPrefix(real, "/run/") {
		dir := filepath.Dir(real)
		plan = append(plan, userns.Mount{Kind: userns.Bind, Src: dir, Dst: dir, ReadOnly: true})
	}
	cowCwd := false
	switch why := g.homeLike(cwd); {
	case r.Cow:
		log.Debug("--cow: the current directory is copy-on-write too")
		cowCwd = true
	case g.named[cwd]:
		log.Debug("the current directory is bound by --rw")
	case why != "":
		// A home holds what runs at the next login; a project does not.
		fmt.Fprintf(os.Stderr, "sandbox: note: %s is copy-on-write, not bound writable: %s; changes do not reach it (give write access on purpose with --rw .)\n", cwd, why)
		cowCwd = true
	default:
		plan = append(plan, userns.Mount{Kind: userns.Bind, Src: cwd, Dst: cwd})
	}
	hides, err := r.hideMounts(cwd)
	if err != nil {
		v.close(nil, 0)
		return nil, nil, err
	}
	plan = append(plan, hides...)
	// The layers themselves: the command must not reach its own upper
	// directories through the host's tree.
	if storeRoot != "" {
		if real, err := filepath.EvalSymlinks(storeRoot); err == nil {
			plan = append(plan, userns.Mount{Kind: userns.Hide, Src: real, Dst: real})
		}
	}
	if cowCwd {
		if m, ok, err := r.cwdOverlay(v, plan, cwd); err != nil {
			v.close(nil, 0)
			return nil, nil, err
		} else if ok {
			log.Debug("the current directory gets an overlay of its own: no other holds it", "dir", cwd)
			plan = append(plan, m)
		}
	}
	addPrecreates(plan, cwd)
	plan, err = r.guardPlan(v, g, gitDirBinds(append(plan, user...)), log)
	return v, plan, err
}

// gitDirBinds adds, after each writable bind whose top is a worktree or a
// submodule's checkout (a .git file), writable binds of its git directory
// and common directory where no writable bind holds them yet: git commit
// there writes both. guardPlan then protects their hooks and config as any
// other.
func gitDirBinds(plan []userns.Mount) []userns.Mount {
	var out []userns.Mount
	var rw []string
	for _, m := range plan {
		out = append(out, m)
		if m.Kind != userns.Bind || m.ReadOnly {
			continue
		}
		rw = append(rw, m.Src)
		if st, err := os.Lstat(filepath.Join(m.Src, ".git")); err != nil || !st.Mode().IsRegular() {
			continue
		}
		gd := gitfileTarget(filepath.Join(m.Src, ".git"))
		var dirs []string
		if b, err := os.ReadFile(filepath.Join(gd, "commondir")); err == nil {
			c := strings.TrimSpace(string(b))
			if !filepath.IsAbs(c) {
				c = filepath.Join(gd, c)
			}
			dirs = append(dirs, resolveLoose(c)) // first: it holds gd, usually
		}
		dirs = append(dirs, gd)
		for _, d := range dirs {
			if gd == "" || !exists(filepath.Join(d, "HEAD")) || coveredBy(d, rw) {
				continue
			}
			out = append(out, userns.Mount{Kind: userns.Bind, Src: d, Dst: d})
			rw = append(rw, d)
		}
	}
	return out
}

func coveredBy(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || within(p, d) {
			return true
		}
	}
	return false
}

// guardPlan inserts, after each writable bind, the steps that protect what
// lies in it, hides the secrets again after each of the user's binds (a --ro
// of $HOME would show ~/.ssh), and starts the watch of the protected paths
// that do not exist.
func (r *RunCmd) guardPlan(v *view, g *guard, plan []userns.Mount, log *slog.Logger) ([]userns.Mount, error) {
	for _, m := range plan {
		if m.Kind == userns.Bind && !m.ReadOnly {
			if st, err := os.Stat(m.Src); err == nil && st.IsDir() {
				g.git = append(g.git, gitPaths(m.Src)...)
			}
		}
	}
	var out []userns.Mount
	var watch []watchItem
	var protected []string
	for _, m := range plan {
		out = append(out, m)
		if m.Kind != userns.Bind || (m.ReadOnly && !m.FromFlag) {
			continue
		}
		pr := g.protect(m)
		if m.ReadOnly {
			// Nothing is written through it; only the secrets matter.
			for _, s := range pr.mounts {
				if s.Kind == userns.Hide {
					out = append(out, s)
				}
			}
			continue
		}
		out = append(out, pr.mounts...)
		watch = append(watch, pr.watch...)
		protected = append(protected, pr.protected...)
	}
	if len(protected) > 0 || len(watch) > 0 {
		var kept []string
		for _, w := range watch {
			kept = append(kept, filepath.Join(w.dir, w.name))
		}
		log.Debug("protected: read-only inside writable binds (open one with --rw PATH)",
			"paths", strings.Join(protected, " "), "kept from being created", strings.Join(kept, " "))
	}
	if len(watch) > 0 {
		w, err := startWatch(watch)
		if err != nil {
			v.close(nil, 0)
			return nil, err
		}
		v.watch = w
	}
	return out, nil
}

// userMounts parses the user's --ro/--rw/--tmpfs in the order given, and
// records in g the paths the user opened on purpose.
func (r *RunCmd) userMounts(cwd string, g *guard) ([]userns.Mount, error) {
	// kong keeps repeated flags of each kind in order, but not the order
	// between kinds; walk the original argv to interleave them as typed.
	argv := r.argv
	if argv == nil {
		argv = os.Args[1:]
	}
	var out []userns.Mount
	for _, f := range orderedMountFlags(argv, r) {
		var m userns.Mount
		var err error
		switch f.flag {
		case "--tmpfs":
			m, err = userns.ParseTmpfs(f.value)
		default:
			m, err = userns.ParseBind(f.value, cwd, f.flag == "--ro")
			if err != nil {
				break
			}
			src := m.Src
			// Init sees the host under another root: hand it a path
			// with no symlink left to resolve.
			m.Src, err = resolveSource(m.Src)
			if f.flag != "--rw" {
				break
			}
			if err != nil && g.missingProtected(src) {
				// --rw .git where there is none: nothing to bind,
				// but the user allows it to be created.
				g.named[resolveLoose(src)] = true
				continue
			}
			if err == nil {
				g.named[m.Src] = true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s %w", f.flag, err)
		}
		m.FromFlag = true
		out = append(out, m)
	}
	return out, nil
}
