package layers

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperHoldEnv makes the test binary take an ephemeral sandbox in the store
// it names, change a layer over helperHoldHostEnv, say "ready" and wait to be
// killed: a run killed mid-way.
const (
	helperHoldEnv     = "_LAYERS_TEST_HOLD"
	helperHoldHostEnv = "_LAYERS_TEST_HOLD_HOST"
)

func holdEphemeral(root, host string) int {
	sb, err := Store{Root: root}.Ephemeral()
	if err == nil {
		var upper string
		if upper, _, err = sb.Layer(host); err == nil {
			err = os.WriteFile(filepath.Join(upper, "left-by-killed-run"), []byte("x"), 0o600)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready", sb.Dir)
	time.Sleep(time.Minute)
	return 0
}

func newStore(t *testing.T) Store {
	t.Helper()
	root := t.TempDir()
	removable(t, root)
	return Store{Root: filepath.Join(root, "sandbox")}
}

func ephemeral(t *testing.T, s Store) *Sandbox {
	t.Helper()
	sb, err := s.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func layer(t *testing.T, sb *Sandbox, host string) (upper, work string) {
	t.Helper()
	upper, work, err := sb.Layer(host)
	if err != nil {
		t.Fatal(err)
	}
	return upper, work
}

func release(t *testing.T, sb *Sandbox) {
	t.Helper()
	if err := sb.Release(); err != nil {
		t.Fatal(err)
	}
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// entries lists the names in dir, sorted; for a missing dir, none.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	names, err := readNames(filepath.Dir(dir), dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func TestEphemeralReleaseAndReuse(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	mkdir(t, host, 0o750)
	sb := ephemeral(t, s)
	if sb.Name != "" || sb.Dir != filepath.Join(s.Root, ephemeralDir, "slot-0") {
		t.Fatalf("Ephemeral = %+v", sb)
	}
	if err := (&Sandbox{Dir: sb.Dir}).Lock(false); err == nil {
		t.Fatal("ephemeral sandbox is not locked")
	}
	upper, work := layer(t, sb, host)
	if got := lstat(t, upper).Mode & 0o7777; got != 0o750 {
		t.Fatalf("new upper mode %o, want the host's 750", got)
	}
	pristine := lstat(t, upper)

	// A run's worth of changes, to the overlay's root too, as the kernel
	// leaves its work directory (work/work, mode 000).
	write(t, filepath.Join(upper, "dir/f"), "x", 0o444)
	mkdir(t, filepath.Join(upper, "dir"), 0o555)
	mkdir(t, filepath.Join(work, "work/sub"), 0o000)
	mkdir(t, filepath.Join(work, "work"), 0o000)
	xattrs := unix.Setxattr(upper, "user.left", []byte("y"), 0) == nil
	if err := unix.Setxattr(upper, "user.overlay.uuid", []byte("0123456789abcdef"), 0); err != nil && xattrs {
		t.Fatal(err)
	}
	mkdir(t, upper, 0o000)
	if err := sb.Release(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, upper); len(got) != 0 {
		t.Errorf("upper after Release holds %q", got)
	}
	if got := entries(t, work); len(got) != 0 {
		t.Errorf("work after Release holds %q", got)
	}
	st := lstat(t, upper)
	if st.Mode != pristine.Mode || st.Mtim != pristine.Mtim || st.Ino != pristine.Ino {
		t.Errorf("upper after Release: mode %o mtime %v ino %d, want %o %v %d", st.Mode, st.Mtim, st.Ino, pristine.Mode, pristine.Mtim, pristine.Ino)
	}
	if xattrs {
		if _, err := unix.Getxattr(upper, "user.left", nil); !errors.Is(err, unix.ENODATA) {
			t.Errorf("user.left after Release: %v", err)
		}
		if _, err := unix.Getxattr(upper, "user.overlay.uuid", nil); err != nil {
			t.Errorf("user.overlay.uuid after Release: %v (the overlay's own: to keep)", err)
		}
	}
	if got := readFile(t, filepath.Join(sb.Dir, lockFile)); got != "" {
		t.Errorf("lock file after Release = %q, want empty", got)
	}
	if err := sb.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if _, _, err := sb.Layer(host); err == nil {
		t.Error("Layer after Release succeeded")
	}

	// The next run takes the same slot and finds the layer as it was made.
	again := ephemeral(t, s)
	if again.Dir != sb.Dir {
		t.Fatalf("second Ephemeral took %s, want %s", again.Dir, sb.Dir)
	}
	u2, w2 := layer(t, again, host)
	if u2 != upper || w2 != work || lstat(t, u2).Ino != pristine.Ino {
		t.Fatalf("Layer on a reused slot = %q, %q (ino %d), want the same directories", u2, w2, lstat(t, u2).Ino)
	}
	release(t, again)
	if got := entries(t, filepath.Join(s.Root, ephemeralDir)); strings.Join(got, " ") != "slot-0" {
		t.Errorf(".ephemeral holds %q", got)
	}
}

func TestEphemeralLayerTakesHostModeAgain(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	mkdir(t, host, 0o755)
	sb := ephemeral(t, s)
	layer(t, sb, host)
	release(t, sb)
	mkdir(t, host, 0o711)
	sb = ephemeral(t, s)
	upper, _ := layer(t, sb, host)
	if got := lstat(t, upper).Mode & 0o7777; got != 0o711 {
		t.Errorf("reused upper mode %o, want the host's new 711", got)
	}
	release(t, sb)
}

func TestEphemeralDropsUnusedLayers(t *testing.T) {
	s := newStore(t)
	a, b := t.TempDir(), t.TempDir()
	sb := ephemeral(t, s)
	layer(t, sb, a)
	layer(t, sb, b)
	release(t, sb)
	sb = ephemeral(t, s)
	layer(t, sb, a)
	upper, _ := layer(t, sb, "/") // new: the set changed
	write(t, filepath.Join(upper, "f"), "x", 0o600)
	release(t, sb)
	want := []string{encodeKey("/"), encodeKey(a)}
	sort.Strings(want)
	if got := entries(t, filepath.Join(sb.Dir, layersDir)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("layers after Release = %q, want %q", got, want)
	}
}

func TestEphemeralConcurrentRunsGetDifferentSlots(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	const n = 8
	sbs := make([]*Sandbox, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sbs[i], errs[i] = s.Ephemeral()
			if errs[i] == nil {
				_, _, errs[i] = sbs[i].Layer(host)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, sb := range sbs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[sb.Dir] {
			t.Fatalf("two runs got %s", sb.Dir)
		}
		seen[sb.Dir] = true
	}
	for _, sb := range sbs {
		release(t, sb)
	}
	// The pool keeps poolCap of them, nothing else.
	want := []string{"slot-0", "slot-1", "slot-2", "slot-3"}
	if got := entries(t, filepath.Join(s.Root, ephemeralDir)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf(".ephemeral after %d runs = %q, want %q", n, got, want)
	}
}

func TestEphemeralPoolCap(t *testing.T) {
	s := newStore(t)
	var sbs []*Sandbox
	for range poolCap + 2 {
		sbs = append(sbs, ephemeral(t, s))
	}
	// Ends in reverse order: the slots kept are still the low ones.
	for i := len(sbs) - 1; i >= 0; i-- {
		release(t, sbs[i])
	}
	if got := entries(t, filepath.Join(s.Root, ephemeralDir)); len(got) != poolCap || got[poolCap-1] != fmt.Sprint("slot-", poolCap-1) {
		t.Errorf(".ephemeral = %q, want slot-0 to slot-%d", got, poolCap-1)
	}
}

// A run that ends without Release (Unlock, as the kernel does for a killed
// process) leaves its PID: the next start destroys the slot, whichever it
// takes.
func TestEphemeralUnreleasedSlotIsDestroyed(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	eph := filepath.Join(s.Root, ephemeralDir)
	a, b := ephemeral(t, s), ephemeral(t, s)
	for _, sb := range []*Sandbox{a, b} {
		upper, _ := layer(t, sb, host)
		write(t, filepath.Join(upper, "leftover"), "x", 0o444)
		mkdir(t, upper, 0o500)
	}
	b.Unlock()
	a.Unlock()
	// Takes slot-0 (destroyed, made again) and sweeps slot-1.
	sb := ephemeral(t, s)
	upper, _ := layer(t, sb, host)
	if got := entries(t, upper); len(got) != 0 {
		t.Errorf("upper of the next run holds %q", got)
	}
	if got := entries(t, eph); strings.Join(got, " ") != "slot-0" {
		t.Errorf(".ephemeral = %q, want slot-0 alone", got)
	}
	release(t, sb)
}

func TestEphemeralKilledRunSlotReused(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperHoldEnv+"="+s.Root, helperHoldHostEnv+"="+host)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	dir, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("helper said %q, %v", line, err)
	}
	// In use: the next run takes another slot.
	other := ephemeral(t, s)
	if other.Dir == dir {
		t.Fatalf("slot %s taken twice", dir)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// Its slot is free now, and made anew (the other one is in use).
	sb := ephemeral(t, s)
	upper, _ := layer(t, sb, host)
	if sb.Dir != dir {
		t.Errorf("after the kill, Ephemeral took %s, want %s again", sb.Dir, dir)
	}
	if got := entries(t, upper); len(got) != 0 {
		t.Errorf("the killed run's upper is visible: %q", got)
	}
	release(t, sb)
	release(t, other)
	if got := entries(t, filepath.Join(s.Root, ephemeralDir)); strings.Join(got, " ") != "slot-0 slot-1" {
		t.Errorf(".ephemeral = %q", got)
	}
}

// The caller's fallback when Release fails: it removes sb.Dir itself (in a
// user namespace) and calls Release again, which must not touch the slot
// that another start made under the same name meanwhile.
func TestEphemeralReleaseAfterRemoval(t *testing.T) {
	s := newStore(t)
	host := t.TempDir()
	a := ephemeral(t, s)
	layer(t, a, host)
	if err := os.RemoveAll(a.Dir); err != nil {
		t.Fatal(err)
	}
	b := ephemeral(t, s)
	if b.Dir != a.Dir {
		t.Fatalf("Ephemeral took %s, want %s made again", b.Dir, a.Dir)
	}
	upper, _ := layer(t, b, host)
	write(t, filepath.Join(upper, "f"), "x", 0o600)
	release(t, a)
	if got := entries(t, upper); strings.Join(got, " ") != "f" {
		t.Fatalf("Release of a removed slot touched its successor: %q", got)
	}
	release(t, b)
}

func TestEphemeralDestroy(t *testing.T) {
	s := newStore(t)
	sb := ephemeral(t, s)
	upper, _ := layer(t, sb, t.TempDir())
	write(t, filepath.Join(upper, "ro/f"), "x", 0o444)
	mkdir(t, filepath.Join(upper, "ro"), 0o555)
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, filepath.Join(s.Root, ephemeralDir)); len(got) != 0 {
		t.Errorf(".ephemeral after Destroy = %q", got)
	}
	release(t, sb) // unlocks
	if sb.lock != nil {
		t.Error("Release after Destroy left the lock held")
	}
}

// Ephemeral removes what killed runs and failed removals left, and only that.
func TestEphemeralSweep(t *testing.T) {
	s := newStore(t)
	eph := filepath.Join(s.Root, ephemeralDir)
	old := time.Now().Add(-time.Hour)
	mk := func(name string, owner, lock bool, age time.Time) string {
		dir := filepath.Join(eph, name)
		write(t, filepath.Join(dir, "layers/x/upper/f"), "x", 0o444)
		mkdir(t, filepath.Join(dir, "layers/x/upper"), 0o555)
		if owner {
			write(t, filepath.Join(dir, ownerFile), "1 1", 0o600)
		}
		if lock {
			write(t, filepath.Join(dir, lockFile), "1\n", 0o600)
		}
		if err := os.Chtimes(dir, age, age); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	hold := func(dir string) {
		f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := flock(f, false); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{
		mk("1234567", true, false, time.Now()):  false, // previous format, owner gone
		mk("2345678", false, false, old):        false, // previous format, never got an owner
		mk("3456789", false, false, time.Now()): true,  // previous format, being made
		mk("4567890", true, true, time.Now()):   true,  // previous format, in use
		mk(".old-a", false, false, time.Now()):  false, // a failed removal
		mk(".old-b", false, true, time.Now()):   true,  // being removed
		mk(".new-a", false, false, old):         false, // a start killed while making it
		mk(".new-b", false, false, time.Now()):  true,  // being made
		mk("slot-7", false, false, old):         false, // a failed in-place removal
		mk("slot-8", false, true, time.Now()):   false, // killed run
		mk("slot-9", false, true, time.Now()):   true,  // in use
		mk(".other", false, false, old):         true,  // not ours
	}
	hold(filepath.Join(eph, "4567890"))
	hold(filepath.Join(eph, ".old-b"))
	hold(filepath.Join(eph, "slot-9"))
	sb := ephemeral(t, s)
	want[sb.Dir] = true
	for dir, keep := range want {
		_, err := os.Lstat(dir)
		if got := err == nil; got != keep {
			t.Errorf("%s exists = %v, want %v", filepath.Base(dir), got, keep)
		}
	}
	if sb.Dir != filepath.Join(eph, "slot-0") {
		t.Errorf("Ephemeral took %s, want slot-0", sb.Dir)
	}
	release(t, sb)
}
