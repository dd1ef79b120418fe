package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sandbox/profile"
	"sandbox/userns"
)

// testGuard is a guard for a fake home h (resolved), without $PATH.
func testGuard(t testing.TB, h string) *guard {
	t.Helper()
	t.Setenv("HOME", h)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("PATH", "")
	t.Setenv(profile.Env, "")
	return newGuard("/nonexistent-cwd", filepath.Join(h, ".local", "share", "sandbox"), nil)
}

func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHomeLike(t *testing.T) {
	h := filepath.Join(tempDir(t), "home", "me")
	g := testGuard(t, h)
	exe, _ := os.Executable()
	exe = resolveLoose(exe)
	for dir, want := range map[string]bool{
		"/": true, h: true, filepath.Dir(h): true, // a home, or above one
		filepath.Join(h, ".config"):                   true, // holds the config
		filepath.Join(h, ".local", "share"):           true, // holds the store
		filepath.Dir(exe):                             true, // holds the binary
		filepath.Join(h, ".config", "fish", "conf.d"): true, // lies in a protected path
		filepath.Join(h, "src", "proj", ".git", "x"):  true,
		filepath.Join(h, "src", "proj"):               false,
		filepath.Join(h, ".cache", "w"):               false,
	} {
		if got := g.homeLike(dir) != ""; got != want {
			t.Errorf("homeLike(%s) = %q, want home-like %v", dir, g.homeLike(dir), want)
		}
	}
}

func TestFirstMissing(t *testing.T) {
	d := tempDir(t)
	os.MkdirAll(filepath.Join(d, "a"), 0o755)
	os.WriteFile(filepath.Join(d, "f"), nil, 0o644)
	for _, c := range []struct {
		p, dir, name string
		ok           bool
	}{
		{d + "/a/b/c", d + "/a", "b", true},
		{d + "/x", d, "x", true},
		{d + "/f/x", d, "f", false}, // f is a file: nothing to watch
	} {
		dir, name, ok := firstMissing(c.p, d)
		if ok != c.ok || ok && (dir != c.dir || name != c.name) {
			t.Errorf("firstMissing(%s) = %s %s %v, want %s %s %v", c.p, dir, name, ok, c.dir, c.name, c.ok)
		}
	}
}

func gitInit(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Skipf("git: %v %s", err, out) // a unit test: the integration tests require git
	}
}

func TestProtectPlan(t *testing.T) {
	h := tempDir(t)
	proj := filepath.Join(h, "src", "p")
	gitInit(t, proj) // before testGuard, which empties $PATH
	g := testGuard(t, h)
	os.WriteFile(filepath.Join(h, ".bashrc"), nil, 0o644)
	os.MkdirAll(filepath.Join(h, ".config"), 0o755)

	b := userns.Mount{Kind: userns.Bind, Src: proj, Dst: proj}
	g.git = gitPaths(proj)
	pr := g.protect(b)
	var steps []string
	for _, m := range pr.mounts {
		steps = append(steps, m.String())
	}
	want := []string{"pin " + proj + "/.git", "protect " + proj + "/.git/config (ro)", "protect " + proj + "/.git/hooks (ro)"}
	if !slices.Equal(steps, want) {
		t.Errorf("project: steps %q, want %q", steps, want)
	}
	if len(pr.watch) != 1 || pr.watch[0] != (watchItem{proj + "/.git", "commondir"}) {
		t.Errorf("project: watch %v, want .git/commondir", pr.watch)
	}

	// --rw of the home: start-up files read-only, missing ones watched,
	// their parents pinned; .git/hooks of the project too.
	home := userns.Mount{Kind: userns.Bind, Src: h, Dst: h}
	g.named[h] = true
	pr = g.protect(home)
	all := ""
	for _, m := range pr.mounts {
		all += m.String() + "\n"
	}
	for _, s := range []string{"protect " + h + "/.bashrc (ro)", "pin " + h + "/.config\n", "protect " + proj + "/.git/hooks (ro)", "hide " + h + "/.local/share/sandbox"} {
		if s == "hide "+h+"/.local/share/sandbox" {
			continue // the store does not exist here
		}
		if !strings.Contains(all, s) {
			t.Errorf("--rw home: no step %q in\n%s", s, all)
		}
	}
	watched := map[string]bool{}
	for _, w := range pr.watch {
		watched[filepath.Join(w.dir, w.name)] = true
	}
	for _, p := range []string{".zshrc", ".ssh", ".config/fish", ".config/sandbox", ".local"} {
		if !watched[filepath.Join(h, p)] {
			t.Errorf("--rw home: %s not watched (%v)", p, watched)
		}
	}

	// --rw of .git opens what lies in it.
	g.named[filepath.Join(proj, ".git")] = true
	if pr := g.protect(userns.Mount{Kind: userns.Bind, Src: proj + "/.git", Dst: proj + "/.git"}); len(pr.mounts)+len(pr.watch) != 0 {
		t.Errorf("--rw .git still protects %v %v", pr.mounts, pr.watch)
	}
	if pr := g.protect(b); len(pr.mounts) != 0 {
		t.Errorf("after --rw .git the project's bind still protects %v", pr.mounts)
	}
}

// BenchmarkGuardProject is the parent's added work for a run in a checkout:
// the guard, the git paths and the plan of one bind.
func BenchmarkGuardProject(b *testing.B) {
	h := tempDir(b)
	proj := filepath.Join(h, "src", "p")
	gitInit(b, proj)
	b.Setenv("HOME", h)
	b.ResetTimer()
	for range b.N {
		g := newGuard(proj, filepath.Join(h, ".local", "share", "sandbox"), nil)
		g.homeLike(proj)
		g.git = gitPaths(proj)
		g.protect(userns.Mount{Kind: userns.Bind, Src: proj, Dst: proj})
	}
}

// BenchmarkWatch is the watch of a directory without .git: start, and stop
// with its sweep.
func BenchmarkWatch(b *testing.B) {
	d := tempDir(b)
	for range b.N {
		w, err := startWatch([]watchItem{{d, ".git"}})
		if err != nil {
			b.Fatal(err)
		}
		w.stop()
	}
}
