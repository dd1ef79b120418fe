package escape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ~/.ssh is hidden (an empty tmpfs) by every path that leads there: its own,
// one through "..", a symlink planted in the work directory (absolute or
// relative), /proc/self/root, /proc/1/root and /proc/self/cwd. The control,
// --show ~/.ssh, proves the reads would see the file if it were there.
func TestSecretsHidden(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		cwd := workdir(t)
		rel, err := filepath.Rel(cwd, secretDir)
		if err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{"abs": secretDir, "rel": rel} {
			if err := os.Symlink(target, filepath.Join(cwd, link)); err != nil {
				t.Fatal(err)
			}
		}
		guard(t, cwd)
		name := filepath.Base(secret)
		paths := []string{
			secret,
			secretDir + "/../.ssh/" + name,
			cwd + "/" + rel + "/" + name,
			filepath.Join(cwd, "abs", name),
			filepath.Join(cwd, "rel", name),
			"/proc/self/root" + secret,
			"/proc/self/cwd/abs/" + name,
			"/proc/1/root" + secret,
		}
		var attempts []string
		for _, p := range paths {
			attempts = append(attempts, "read:"+p)
		}
		r := run{dir: cwd}.sandbox(t, m.with(append([]string{"--", escapee, "do", "empty:" + secretDir}, attempts...)...)...)
		if r.code != 0 {
			t.Fatalf("%s: %s", m.name, r)
		}
		want := map[string][]string{"empty:" + secretDir: {"OK"}}
		for _, a := range attempts {
			want[a] = []string{"ENOENT"}
		}
		want["read:/proc/1/root"+secret] = []string{"ENOENT", "EACCES"}
		expect(t, r, m.name+": ", want)

		// The control: shown, the same reads find the file.
		r = run{dir: cwd}.sandbox(t, m.with("--show", secretDir, "--", escapee, "do", attempts[0], attempts[3])...)
		if !strings.Contains(r.stdout, attempts[0]+" OK") || !strings.Contains(r.stdout, attempts[3]+" OK") {
			t.Errorf("%s: --show %s: the secret is still unreadable, so the case cannot tell hidden from broken:\n%s", m.name, secretDir, r)
		}
	}, defaultMode, root)
}
