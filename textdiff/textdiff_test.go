package textdiff

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func unified(t *testing.T, a, b string) string {
	t.Helper()
	var out strings.Builder
	if err := Unified(&out, "a/f", "b/f", a, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestUnified(t *testing.T) {
	for _, c := range []struct{ name, a, b, want string }{
		{"equal", "x\n", "x\n", ""},
		{"added file", "", "one\ntwo\n", "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+one\n+two\n"},
		{"deleted file", "one\n", "", "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-one\n"},
		{"one line changed", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"no newline at end", "a\nb", "a\nc",
			"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "x\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ny\n",
			"--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-1\n+x\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+y\n"},
	} {
		if got := unified(t, c.a, c.b); got != c.want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", c.name, got, c.want)
		}
	}
}

// Random edits: the diff applied with patch(1) gives the new text back, and
// the script is never longer than remove-all-add-all.
func TestUnifiedAppliesWithPatch(t *testing.T) {
	patch, err := exec.LookPath("patch")
	if err != nil {
		t.Skip("patch(1) not installed; TestUnified checks the format")
	}
	r := rand.New(rand.NewSource(1))
	words := []string{"a\n", "b\n", "c\n", "d\n", "e\n"}
	for i := range 60 {
		var a, b []string
		for range r.Intn(30) {
			a = append(a, words[r.Intn(len(words))])
		}
		b = append(b, a...)
		for range r.Intn(6) {
			p := r.Intn(len(b) + 1)
			switch r.Intn(2) {
			case 0:
				b = append(b[:p], append([]string{words[r.Intn(len(words))]}, b[p:]...)...)
			default:
				if p < len(b) {
					b = append(b[:p], b[p+1:]...)
				}
			}
		}
		old, neu := strings.Join(a, ""), strings.Join(b, "")
		diff := unified(t, old, neu)
		dir := t.TempDir()
		f := filepath.Join(dir, "f")
		if err := os.WriteFile(f, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(patch, "-s", f)
		cmd.Stdin = strings.NewReader(diff)
		if out, err := cmd.CombinedOutput(); err != nil && diff != "" {
			t.Fatalf("case %d: patch: %v: %s\ndiff:\n%s", i, err, out, diff)
		}
		got, _ := os.ReadFile(f)
		if string(got) != neu {
			t.Fatalf("case %d: patched %q, want %q\ndiff:\n%s", i, got, neu, diff)
		}
		edits := strings.Count(diff, "\n-") + strings.Count(diff, "\n+") - 2
		if edits > len(a)+len(b) {
			t.Fatalf("case %d: %d edits for %d+%d lines", i, edits, len(a), len(b))
		}
	}
}

// A file rewritten whole beyond maxEdits is still a correct diff.
func TestUnifiedLargeRewrite(t *testing.T) {
	var a, b strings.Builder
	for i := range 3000 {
		a.WriteString("old " + string(rune('a'+i%26)) + "\n")
		b.WriteString("new " + string(rune('a'+i%26)) + "\n")
	}
	d := unified(t, a.String(), b.String())
	if strings.Count(d, "\n-old") != 3000 || strings.Count(d, "\n+new") != 3000 {
		t.Fatalf("large rewrite: %d removed, %d added", strings.Count(d, "\n-old"), strings.Count(d, "\n+new"))
	}
}
