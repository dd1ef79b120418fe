package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every directory the user may write on the host is writable inside,
// copy-on-write (issue 21, item 1): root's /var/tmp (mode 1777) gave
// EOVERFLOW under the kernel overlay, which cannot copy a directory up with
// an owner the user namespace does not map. Also a directory deeper below it,
// and a --cow project below it, which starts there and sees its files.
func TestWritableWhereTheHostIsWritable(t *testing.T) {
	requires(t, UserNS)
	if st, err := os.Stat("/var/tmp"); err != nil || st.Mode()&0o002 == 0 {
		t.Skip("requires a world-writable /var/tmp on the host")
	}
	tok := fmt.Sprintf("sb-writable-%d-%d", os.Getpid(), time.Now().UnixNano())
	f := filepath.Join("/var/tmp", tok)
	for _, mode := range []string{"kernel", "auto"} {
		out := must(t, "--overlay", mode, "--", "sh", "-c", `echo x > "$1" && mkdir "$1.d" && echo y > "$1.d/f" && cat "$1" "$1.d/f"`, "sh", f)
		if strings.Join(lines(out), ",") != "x,y" {
			t.Errorf("--overlay %s: writes in /var/tmp: %q", mode, out)
		}
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("--overlay %s: the write to %s reached the host", mode, f)
		}
	}

	// A directory of ours, mode 1777, deeper below it, and a --cow project
	// there: the run starts in it, sees its files, and its writes stay in the
	// sandbox's layer.
	deep := filepath.Join("/var/tmp", tok+"-deep")
	proj := filepath.Join(deep, "sub", "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(deep) })
	if err := os.Chmod(filepath.Join(deep, "sub"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "src.c"), []byte("int main(){}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("writable-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	r := sandbox(t, proj, nil, "--name", name, "--cow", "--", "sh", "-c", `pwd; cat src.c; echo out > a.out; echo z > ../other`)
	if r.code != 0 || !strings.Contains(r.stdout, proj) || !strings.Contains(r.stdout, "int main") {
		t.Fatalf("--cow project below /var/tmp: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{filepath.Join(proj, "a.out"), filepath.Join(deep, "sub", "other")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("--cow: %s reached the host", p)
		}
	}
	if d := sandbox(t, "", nil, "diff", name); !strings.Contains(d.stdout, "a.out") {
		t.Errorf("diff of the --cow project does not list a.out:\n%s%s", d.stdout, d.stderr)
	}
}

// --cow in a directory under /tmp (issue 19, item 4): /tmp inside is a fresh
// tmpfs, so the run failed with a bare "no such file or directory" and left a
// named sandbox behind. The directory gets an overlay of its own; and a --cow
// run whose setup fails leaves no sandbox behind.
func TestCowUnderTmp(t *testing.T) {
	requires(t, UserNS)
	proj, err := os.MkdirTemp("/tmp", "sb-cow-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(proj) })
	if err := os.WriteFile(filepath.Join(proj, "in"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("cowtmp-%d", os.Getpid())
	t.Cleanup(func() { sandbox(t, "", nil, "rm", name) })
	r := sandbox(t, proj, nil, "--name", name, "--cow", "--", "sh", "-c", `pwd; cat in; echo new > out`)
	if r.code != 0 || !strings.Contains(r.stdout, proj) || !strings.Contains(r.stdout, "host") {
		t.Fatalf("--cow under /tmp: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(proj, "out")); err == nil {
		t.Errorf("--cow: the write reached the host")
	}
	if d := sandbox(t, "", nil, "diff", name); !strings.Contains(d.stdout, "out") {
		t.Errorf("diff does not list out:\n%s%s", d.stdout, d.stderr)
	}

	before := sandbox(t, "", nil, "ls").stdout
	r = sandbox(t, proj, nil, "--cow", "--chdir", "/nonexistent-dir", "--", "true")
	if r.code != 125 {
		t.Fatalf("--cow --chdir /nonexistent-dir: exit %d, want 125", r.code)
	}
	if after := sandbox(t, "", nil, "ls").stdout; strings.Count(after, "cow-") != strings.Count(before, "cow-") {
		t.Errorf("a --cow run that failed in setup left a sandbox behind:\n%s", after)
	}
}
