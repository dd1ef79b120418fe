package layers

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// An image's layer: three lowers (top first: top, mid, base), the upper over
// their overlay at "/". Diff merges the lowers as the overlay shows them and
// prints the paths the command saw.
func TestDiffStackedLayer(t *testing.T) {
	root := t.TempDir()
	removable(t, root)
	base, mid, top := filepath.Join(root, "base"), filepath.Join(root, "mid"), filepath.Join(root, "top")
	write(t, filepath.Join(base, "etc/os"), "base\n", 0o644)
	write(t, filepath.Join(base, "etc/gone"), "base\n", 0o644) // whited out by mid
	write(t, filepath.Join(base, "opq/old"), "base\n", 0o644)  // hidden: mid's opq is opaque
	write(t, filepath.Join(base, "keep"), "base\n", 0o644)
	write(t, filepath.Join(mid, "etc/mid"), "mid\n", 0o644)
	mkWhiteout(t, filepath.Join(mid, "etc/gone"))
	write(t, filepath.Join(mid, "opq/fresh"), "mid\n", 0o644)
	setXattr(t, filepath.Join(mid, "opq"), "user.overlay.opaque")
	write(t, filepath.Join(top, "etc/os"), "top\n", 0o644)
	mkdir(t, filepath.Join(top, "bin"), 0o755)

	s := Store{Root: filepath.Join(root, "store")}
	sb, err := s.Open("img")
	if err != nil {
		t.Fatal(err)
	}
	upper, _, err := sb.StackLayer("/", []string{top, mid, base})
	if err != nil {
		t.Fatal(err)
	}
	u := func(rel string) string { return filepath.Join(upper, rel) }
	write(t, u("etc/os"), "changed\n", 0o644) // the top's copy of a base file
	write(t, u("etc/mid"), "mid!\n", 0o644)   // a middle layer's file
	write(t, u("etc/gone"), "back\n", 0o644)  // what mid whited out: new again
	write(t, u("opq/added"), "a\n", 0o644)
	mkWhiteout(t, u("keep"))      // a base file deleted
	mkWhiteout(t, u("opq/old"))   // hidden already: nothing to delete
	mkWhiteout(t, u("opq/fresh")) // mid's file deleted
	write(t, u("bin/tool"), "#!/bin/sh\n", 0o755)

	ls, err := sb.Layers()
	if err != nil || len(ls) != 1 || ls[0].Mount != "/" || len(ls[0].Lowers) != 3 {
		t.Fatalf("Layers = %+v, %v; want one stacked layer at /", ls, err)
	}
	ch, err := sb.Diff()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range ch {
		got = append(got, c.Line())
	}
	want := []string{"A /bin/tool", "A /etc/gone", "M /etc/mid", "M /etc/os", "D /keep", "A /opq/added", "D /opq/fresh"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The old side of a patch is the lower's file that the overlay showed.
	var b bytes.Buffer
	for i := range ch {
		if ch[i].Path == "/etc/os" {
			if err := ch[i].Patch(&b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !strings.Contains(b.String(), "-top\n+changed\n") {
		t.Fatalf("patch of /etc/os:\n%s", b.String())
	}
	if _, err := sb.Commit(CommitOptions{}); err == nil || !strings.Contains(err.Error(), "image") {
		t.Fatalf("commit of a stacked layer: %v, want a refusal", err)
	}
}
