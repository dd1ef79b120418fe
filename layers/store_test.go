package layers

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"dev", true},
		{"Z9", true},
		{"my-box_1.2", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{".", false},
		{"..", false},
		{".ephemeral", false},
		{"-x", false},
		{"_x", false},
		{"a/b", false},
		{"a b", false},
		{"a\nb", false},
		{"é", false},
	} {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ValidName(%q): error spans lines: %q", tc.name, err)
		}
	}
}

func TestDefaultStore(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_DATA_HOME", "/data")
	if s, _ := DefaultStore(); s.Root != "/data/sandbox" {
		t.Errorf("with XDG_DATA_HOME: %q", s.Root)
	}
	t.Setenv("XDG_DATA_HOME", "")
	if s, _ := DefaultStore(); s.Root != "/home/u/.local/share/sandbox" {
		t.Errorf("without XDG_DATA_HOME: %q", s.Root)
	}
	t.Setenv("XDG_DATA_HOME", "rel")
	if s, _ := DefaultStore(); s.Root != "/home/u/.local/share/sandbox" {
		t.Errorf("relative XDG_DATA_HOME is to be ignored: %q", s.Root)
	}
}

func TestOpenListRemove(t *testing.T) {
	s := Store{Root: filepath.Join(t.TempDir(), "sandbox")}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("List of a missing store = %v, %v", l, err)
	}
	if _, err := s.Open("../x"); err == nil {
		t.Fatal("Open accepted ../x")
	}
	sb, err := s.Open("dev")
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	upper, work, err := sb.Layer(host)
	if err != nil {
		t.Fatal(err)
	}
	key := encodeKey(host)
	if upper != filepath.Join(sb.Dir, "layers", key, "upper") || work != filepath.Join(sb.Dir, "layers", key, "work") {
		t.Fatalf("Layer = %q, %q", upper, work)
	}
	if got := readFile(t, filepath.Join(sb.Dir, "layers", key, "path")); got != host+"\n" {
		t.Fatalf("path file = %q", got)
	}
	write(t, filepath.Join(upper, "f"), strings.Repeat("x", 10000), 0o644)
	if err := sb.SetLastRun([]string{"make", "-j4"}, 2); err != nil {
		t.Fatal(err)
	}
	ls, err := s.List()
	if err != nil || len(ls) != 1 {
		t.Fatalf("List = %v, %v", ls, err)
	}
	in := ls[0]
	if in.Name != "dev" || in.Size < 10000 || strings.Join(in.LastCommand, " ") != "make -j4" || in.LastStatus != 2 ||
		time.Since(in.Created) > time.Minute || time.Since(in.LastRun) > time.Minute {
		t.Fatalf("List[0] = %+v", in)
	}
	ly, err := sb.Layers()
	if err != nil || len(ly) != 1 || ly[0].HostPath != host || ly[0].Upper != upper {
		t.Fatalf("Layers = %+v, %v", ly, err)
	}

	// Reopening keeps the creation time and layers.
	again, err := s.Open("dev")
	if err != nil {
		t.Fatal(err)
	}
	m, err := again.Meta()
	if err != nil || !m.Created.Equal(in.Created) || m.Version != metaVersion {
		t.Fatalf("Meta after reopen = %+v, %v", m, err)
	}

	if err := sb.Lock(false); err != nil {
		t.Fatal(err)
	}
	err = s.Remove("dev")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() {
		t.Fatalf("Remove of a locked sandbox = %v", err)
	}
	sb.Unlock()
	if err := s.Remove("dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sandbox dir still there: %v", err)
	}
	var nf *NotFoundError
	if err := s.Remove("dev"); !errors.As(err, &nf) || err.Error() != "no sandbox named dev (see sandbox ls)" {
		t.Fatalf("Remove of a missing sandbox = %v", err)
	}
}

// The remover is for what the user's own permissions cannot remove (a
// sub-ID's entries, which an unprivileged unit test cannot make: the
// integration test TestRmSubIDFiles covers that); a tree we own, even
// unreadable, never needs it.
func TestRemoveWithRemover(t *testing.T) {
	s := Store{Root: t.TempDir()}
	sb, err := s.Open("subids")
	if err != nil {
		t.Fatal(err)
	}
	upper, _, err := sb.Layer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "d/f"), "x", 0o644)
	mkdir(t, filepath.Join(upper, "d"), 0o000)
	var calls []string
	asOwner := func(dir string) error {
		calls = append(calls, dir)
		return os.RemoveAll(dir)
	}
	if err := s.RemoveWith(asOwner, "subids"); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("remover called for a tree we can remove: %v", calls)
	}
	if _, err := os.Lstat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sandbox dir still there: %v", err)
	}
}

// Unlock gives work/work, which the kernel overlay makes mode 000 at each
// mount, its owner's rwx back: nothing in the store is unreadable to du.
func TestUnlockOpensWorkDirs(t *testing.T) {
	sb, err := Store{Root: t.TempDir()}.Open("w")
	if err != nil {
		t.Fatal(err)
	}
	_, work, err := sb.Layer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(work, "work"), 0o000)
	if err := sb.Lock(false); err != nil {
		t.Fatal(err)
	}
	sb.Unlock()
	info, err := os.Stat(filepath.Join(work, "work"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("work/work after Unlock: %v, %v; want mode 0700", info, err)
	}
}

func TestMetaNewerVersionRefused(t *testing.T) {
	sb, err := Store{Root: t.TempDir()}.Open("x")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(sb.Dir, metaFile), `{"version": 99}`, 0o600)
	if err := sb.SetLastRun([]string{"true"}, 0); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("SetLastRun on a newer meta.json = %v", err)
	}
}

func TestLock(t *testing.T) {
	s := Store{Root: t.TempDir()}
	a, _ := s.Open("box")
	b, _ := s.Open("box")
	if err := a.Lock(false); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(false); err != nil {
		t.Fatalf("relocking through the same Sandbox: %v", err)
	}
	err := b.Lock(false)
	want := "sandbox box is in use by PID " + strconv.Itoa(os.Getpid())
	if err == nil || err.Error() != want {
		t.Fatalf("second Lock(false) = %v, want %q", err, want)
	}

	got := make(chan error)
	go func() { got <- b.Lock(true) }()
	select {
	case err := <-got:
		t.Fatalf("Lock(true) returned while held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.Unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock(true) still waiting after Unlock")
	}
	if err := a.Lock(false); err == nil {
		t.Fatal("lock taken twice")
	}
	b.Unlock()
}

func TestDestroyReadOnlyTree(t *testing.T) {
	sb, err := Store{Root: t.TempDir()}.Open("ro")
	if err != nil {
		t.Fatal(err)
	}
	upper, _, err := sb.Layer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "ro/sub/f"), "x", 0o444)
	symlink(t, "/etc/passwd", filepath.Join(upper, "ro/link"))
	write(t, filepath.Join(upper, "locked/f"), "x", 0o000)
	mkdir(t, filepath.Join(upper, "ro/sub"), 0o555)
	mkdir(t, filepath.Join(upper, "ro"), 0o555)
	mkdir(t, filepath.Join(upper, "locked"), 0o000)
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sandbox dir still there: %v", err)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatalf("symlink target touched: %v", err)
	}
}
