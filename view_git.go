package main

import (
	"os"
	"path/filepath"
	"strings"
)

// gitPaths are the paths of the repository at the top of root through which
// git runs a command later (hooks, core.fsmonitor, core.sshCommand, aliases
// and filters of the config) or finds another repository to trust instead
// (a gitfile, commondir). The index, objects and refs are not on the list: git
// writes them for add, commit, checkout and stash, and git runs none of them.
//
// Only the top of a bind is looked at: a .git in a subdirectory would need a
// walk of the whole tree at every start (see README, "what the command can
// change on the host").
func gitPaths(root string) []string {
	dotgit := filepath.Join(root, ".git")
	st, err := os.Lstat(dotgit)
	switch {
	case err != nil && (isGitDir(root) || exists(filepath.Join(root, "HEAD")) && exists(filepath.Join(root, "commondir"))):
		return gitDirPaths(root, 0) // a bare repository, a worktree's git directory
	case err != nil:
		return []string{dotgit} // kept from being created: git init plants hooks
	case st.IsDir():
		return gitDirPaths(dotgit, 0)
	}
	// A gitfile (a worktree, a submodule's checkout) or a link: where it
	// points must not change, and what it points at is protected too.
	out := []string{dotgit}
	if gd := gitfileTarget(dotgit); gd != "" {
		out = append(out, gitDirPaths(gd, 0)...)
	}
	return out
}

// gitDirPaths lists what to protect in git directory gd, and in the
// directories of its submodules and worktrees.
func gitDirPaths(gd string, depth int) []string {
	out := []string{filepath.Join(gd, "hooks"), filepath.Join(gd, "config"),
		// A commondir file sends git to another directory's config and
		// hooks; a main repository has none, and must not get one.
		filepath.Join(gd, "commondir")}
	if exists(filepath.Join(gd, "config.worktree")) {
		// Read only with extensions.worktreeConfig (set in the protected
		// config), so one that does not exist needs no watch.
		out = append(out, filepath.Join(gd, "config.worktree"))
	}
	if b, err := os.ReadFile(filepath.Join(gd, "commondir")); err == nil {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gd, common)
		}
		common = resolveLoose(common)
		out = append(out, filepath.Join(common, "hooks"), filepath.Join(common, "config"))
	}
	if depth >= 4 {
		return out
	}
	if ents, err := os.ReadDir(filepath.Join(gd, "worktrees")); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				w := filepath.Join(gd, "worktrees", e.Name())
				out = append(out, filepath.Join(w, "commondir"))
				if exists(filepath.Join(w, "config.worktree")) {
					out = append(out, filepath.Join(w, "config.worktree"))
				}
			}
		}
	}
	return append(out, modulePaths(filepath.Join(gd, "modules"), depth)...)
}

// modulePaths walks .git/modules: a submodule's name may hold slashes, so a
// directory there is either a module's git directory or a level of names.
func modulePaths(dir string, depth int) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if isGitDir(p) {
			out = append(out, gitDirPaths(p, depth+1)...)
		} else if depth < 4 {
			out = append(out, modulePaths(p, depth+1)...)
		}
	}
	return out
}

// gitfileTarget reads "gitdir: PATH" from a .git file (or follows a .git
// link), or returns "".
func gitfileTarget(dotgit string) string {
	if st, err := os.Stat(dotgit); err == nil && st.IsDir() {
		return resolveLoose(dotgit)
	}
	b, err := os.ReadFile(dotgit)
	if err != nil || len(b) > 4096 {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	gd, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
	if !ok {
		return ""
	}
	gd = strings.TrimSpace(gd)
	if !filepath.IsAbs(gd) {
		gd = filepath.Join(filepath.Dir(dotgit), gd)
	}
	return resolveLoose(gd)
}

// isGitDir is git's own test, cut short: a HEAD and an objects directory.
func isGitDir(dir string) bool {
	return exists(filepath.Join(dir, "HEAD")) && exists(filepath.Join(dir, "objects"))
}

// exists reports whether p exists, a link itself included.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
