package main

// What of a writable bind stays read-only (issue 14): nothing the command
// writes may run later outside the sandbox. Runs in the parent, while the
// mount plan is made.
//
// Three mechanisms, each chosen for what a mount can and cannot do:
//   - A home is never bound writable by default: a current directory that is
//     /, $HOME or above it, or that holds the sandbox's own config, store or
//     binary, or lies in a protected path, is copy-on-write (homeLike).
//   - A protected path that exists is covered by a read-only clone of itself
//     (userns.Rebind), and every directory between the bind's top and it is
//     pinned (a writable clone on itself: a mount point cannot be renamed),
//     so the command cannot swap .git for a copy with its own hooks.
//   - A protected path that does not exist cannot get a mount: a mount needs
//     an existing mount point, and in a directory that stays writable on the
//     host that means creating the name there (bubblewrap and Codex create an
//     empty placeholder, which leaks when the run is killed, shows up as an
//     empty .git to every tool, and is unmounted under a concurrent run when
//     the other removes it). So nothing is created: the parent watches the
//     parent directory (inotify) and moves what the command creates there
//     aside at once, and again after the run (view_watch.go).

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sandbox/profile"
	"sandbox/userns"
)

// homeStartup are $HOME's files and directories that a shell, the desktop,
// systemd or git run or read as commands later, relative to $HOME.
var homeStartup = []string{
	".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".profile",
	".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".config/fish",
	".xprofile", ".xsessionrc", ".xinitrc", ".xsession",
	".ssh/rc", ".config/autostart", ".config/systemd/user", ".local/share/applications",
	".config/environment.d", ".gitconfig", ".config/git",
}

// guard holds the host paths (resolved) that no writable bind may expose.
type guard struct {
	home    string
	self    []string        // the sandbox's own config file and dirs, store, binary, companions
	static  []string        // self, $HOME start-up files, $PATH directories
	secrets []string        // hidden by default (less --show): never planted either
	git     []string        // of the repositories at the tops of the writable binds
	named   map[string]bool // named by --rw: the user opened it on purpose
}

// newGuard lists the protected paths of a run from cwd (resolved).
//
// Cheap by design (every run pays it): $HOME is resolved once and the paths
// below it are built on it; only the sandbox's own config directory is
// resolved further (a dotfiles checkout may hold it through a link). A
// start-up file or a $PATH directory that is a link into the bound project
// is the project's own content, as its Makefile is.
func newGuard(cwd, storeRoot string, show map[string]bool) *guard {
	g := &guard{named: map[string]bool{}}
	lexHome, _ := os.UserHomeDir()
	if filepath.IsAbs(lexHome) {
		lexHome = filepath.Clean(lexHome)
		g.home = resolveLoose(lexHome)
	}
	// rehome puts a path given below $HOME on the resolved home.
	rehome := func(p string) string {
		p = filepath.Clean(p)
		if g.home != "" && g.home != lexHome && (p == lexHome || within(p, lexHome)) {
			return g.home + strings.TrimPrefix(p, lexHome)
		}
		return p
	}
	if cfg := os.Getenv(profile.Env); filepath.IsAbs(cfg) && cfg != "/dev/null" {
		g.self = append(g.self, resolveLoose(cfg), resolveLoose(filepath.Dir(cfg)))
	}
	// The default config directory, which a run without $SANDBOX_CONFIG reads.
	if base := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(base) {
		g.self = append(g.self, resolveLoose(filepath.Join(base, "sandbox")))
	} else if g.home != "" {
		g.self = append(g.self, resolveBelow(g.home, ".config", "sandbox"))
	}
	if exe, err := os.Executable(); err == nil { // the kernel's path: resolved
		g.self = append(g.self, exe, filepath.Join(filepath.Dir(exe), "sandbox-netstack"))
	}
	g.static = append(g.static, g.self...)
	if storeRoot != "" {
		// Hidden (the layers of other runs), not only read-only.
		g.secrets = append(g.secrets, rehome(storeRoot))
	}
	g.self = append(g.self, g.secrets...) // the store, for homeLike
	if g.home != "" {
		for _, f := range homeStartup {
			g.static = append(g.static, filepath.Join(g.home, f))
		}
		for _, s := range hiddenByDefault {
			if p := filepath.Join(g.home, s); !show[p] && !show[filepath.Join(lexHome, s)] {
				g.secrets = append(g.secrets, p)
			}
		}
	}
	// A program planted in a directory of $PATH runs instead of the real
	// one the next time its name is typed. A project's own directory on
	// $PATH (direnv's PATH_add bin, node_modules/.bin) is not protected:
	// the project's files run later anyway (make, npm test), and its build
	// writes there.
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if d = rehome(d); filepath.IsAbs(d) && d != cwd && !within(d, cwd) {
			g.static = append(g.static, d)
		}
	}
	return g
}

// resolveBelow joins names onto dir (resolved), resolving only if one of
// them is a link: one lstat per name that exists.
func resolveBelow(dir string, names ...string) string {
	p := dir
	for i, n := range names {
		p = filepath.Join(p, n)
		st, err := os.Lstat(p)
		if err != nil {
			return filepath.Join(append([]string{p}, names[i+1:]...)...)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return resolveLoose(filepath.Join(append([]string{p}, names[i+1:]...)...))
		}
	}
	return p
}

// homeLike says why dir must not be bound writable as the current directory
// ("" when it is a project).
func (g *guard) homeLike(dir string) string {
	switch {
	case dir == "/":
		return "it is /"
	case g.home != "" && dir == g.home:
		return "it is your home directory"
	case g.home != "" && within(g.home, dir):
		return "it holds your home directory"
	}
	for _, p := range g.self {
		if within(p, dir) {
			return "it holds " + p + ", which sandbox itself trusts"
		}
	}
	for _, p := range append(g.static, g.secrets...) {
		if dir == p || within(dir, p) {
			return "it lies in " + p + ", a protected path"
		}
	}
	if strings.Contains(dir+"/", "/.git/") {
		return "it lies in a git directory"
	}
	return ""
}

// opened reports whether dir was named by --rw and is itself protected (or
// lies in a protected path, or is a git directory): what lies in it is
// opened on purpose too. A --rw of a directory that merely holds protected
// paths ($HOME, a checkout) keeps them protected.
func (g *guard) opened(dir string) bool {
	if !g.named[dir] {
		return false
	}
	if filepath.Base(dir) == ".git" || isGitDir(dir) {
		return true
	}
	for _, p := range append(g.static, g.git...) {
		if dir == p || within(dir, p) {
			return true
		}
	}
	return false
}

// openedAbove reports whether p lies in a directory that --rw opened. Such
// a p gets no step even under an earlier bind: a mount point is one for
// every mount of the namespace (the kernel refuses to rename over the
// dentry), so git config could not replace .git/config in the --rw .git.
func (g *guard) openedAbove(p string) bool {
	for n := range g.named {
		if within(p, n) && g.opened(n) {
			return true
		}
	}
	return false
}

// missingProtected reports whether p, which does not exist, is a path the
// guard would keep from being created: --rw of it allows it instead.
func (g *guard) missingProtected(p string) bool {
	p = resolveLoose(p)
	for _, q := range append(g.static, g.secrets...) {
		if p == q {
			return true
		}
	}
	base, parent := filepath.Base(p), filepath.Base(filepath.Dir(p))
	return base == ".git" || parent == ".git" && (base == "hooks" || base == "config" || base == "commondir")
}

// within reports whether p lies strictly below dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/" && strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, dir+"/")
}

// resolveLoose resolves the symlinks of the longest existing prefix of p, so
// that a path that does not exist yet compares with resolved ones.
func resolveLoose(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	if dir == "/" || dir == "" {
		return p
	}
	return filepath.Join(resolveLoose(filepath.Clean(dir)), base)
}

// protection is the plan for one writable bind.
type protection struct {
	mounts    []userns.Mount // pins, then read-only steps, then hides
	watch     []watchItem    // missing protected paths: host dir and the name to keep out of it
	protected []string       // inside paths, for --verbose
}

// protect plans what keeps the protected paths inside the writable bind b
// read-only.
func (g *guard) protect(b userns.Mount) protection {
	var pr protection
	if g.opened(b.Src) {
		return pr
	}
	ro, missing := map[string]bool{}, map[string]bool{}
	add := func(p string) {
		if !within(p, b.Src) || g.named[p] || g.openedAbove(p) {
			return // outside, or named on purpose
		}
		st, err := os.Lstat(p)
		switch {
		case err != nil:
			missing[p] = true
		case st.Mode()&fs.ModeSymlink != 0:
			ro[p] = true
			// The link is pinned; where it leads is protected too.
			if t, err := filepath.EvalSymlinks(p); err == nil && within(t, b.Src) && !g.named[t] {
				ro[t] = true
			}
		default:
			ro[p] = true
		}
	}
	for _, p := range g.static {
		add(p)
	}
	for _, p := range g.git {
		add(p)
	}
	pins := map[string]bool{}
	pin := func(p string) { // the directories between b's top and p
		for d := filepath.Dir(p); within(d, b.Src); d = filepath.Dir(d) {
			pins[d] = true
		}
	}
	for p := range ro {
		pin(p)
	}
	for p := range missing {
		// Only the first missing component can be watched: its parent
		// exists. Keeping it out keeps out everything below it.
		if dir, name, ok := firstMissing(p, b.Src); ok {
			pin(filepath.Join(dir, name))
			pr.watch = append(pr.watch, watchItem{dir: dir, name: name})
		}
	}
	for _, s := range g.secrets {
		if !within(s, b.Src) {
			continue
		}
		if _, err := os.Lstat(s); err != nil {
			if dir, name, ok := firstMissing(s, b.Src); ok {
				pin(filepath.Join(dir, name))
				pr.watch = append(pr.watch, watchItem{dir: dir, name: name})
			}
			continue
		}
		pin(s)
		if real, err := filepath.EvalSymlinks(s); err == nil && within(real, b.Src) {
			pr.mounts = append(pr.mounts, userns.Mount{Kind: userns.Hide, Src: real, Dst: inside(b, real)})
		}
	}
	// Pins first, parents before children; then the read-only clones,
	// recursive, so a pin below one is read-only too. A path below another
	// read-only one needs no step of its own.
	var steps []userns.Mount
	for _, p := range sorted(pins) {
		if !ro[p] && !belowAny(p, ro) {
			steps = append(steps, userns.Mount{Kind: userns.Rebind, Dst: inside(b, p)})
		}
	}
	for _, p := range sorted(ro) {
		if !belowAny(p, ro) {
			steps = append(steps, userns.Mount{Kind: userns.Rebind, Dst: inside(b, p), ReadOnly: true})
			pr.protected = append(pr.protected, inside(b, p))
		}
	}
	pr.mounts = append(steps, pr.mounts...)
	return pr
}

// firstMissing returns the directory and the name of p's first component
// that does not exist, below top; ok is false when there is none to watch
// (that directory is not one, or lies outside top).
func firstMissing(p, top string) (dir, name string, ok bool) {
	for first := p; ; {
		d := filepath.Dir(first)
		st, err := os.Lstat(d)
		if err == nil {
			return d, filepath.Base(first), st.IsDir()
		}
		if d == top || !within(d, top) {
			return "", "", false
		}
		first = d
	}
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func belowAny(p string, set map[string]bool) bool {
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		if set[d] {
			return true
		}
	}
	return false
}

// inside is where host path p (below b's source) shows inside the sandbox.
func inside(b userns.Mount, p string) string {
	if b.Src == "/" {
		return filepath.Join(b.Dst, p)
	}
	return filepath.Join(b.Dst, strings.TrimPrefix(p, b.Src))
}
