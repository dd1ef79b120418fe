package layers

import (
	"os"
	"path/filepath"
	"testing"
)

// hostDirs are the top-level directories a run overlays on a usual host.
var hostDirs = []string{"/bin", "/boot", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt",
	"/opt", "/root", "/sbin", "/srv", "/usr", "/var", "/snap"}

// BenchmarkEphemeralCycle is the parent's share of `sandbox -- true`:
// Ephemeral, a Layer per top-level directory, and Release.
func BenchmarkEphemeralCycle(b *testing.B) {
	benchCycle(b, false, (*Sandbox).Release)
}

// BenchmarkEphemeralCycleWrite is a run that writes one file: one upper to
// empty and put back.
func BenchmarkEphemeralCycleWrite(b *testing.B) {
	benchCycle(b, true, (*Sandbox).Release)
}

// BenchmarkEphemeralCycleDestroy ends each run with Destroy instead: every
// start makes a new slot, as before the pool.
func BenchmarkEphemeralCycleDestroy(b *testing.B) {
	benchCycle(b, false, func(sb *Sandbox) error {
		err := sb.Destroy()
		sb.Unlock()
		return err
	})
}

func benchCycle(b *testing.B, writeOne bool, end func(*Sandbox) error) {
	s := Store{Root: filepath.Join(b.TempDir(), "sandbox")}
	for b.Loop() {
		sb, err := s.Ephemeral()
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range hostDirs {
			upper, _, err := sb.Layer(d)
			if err != nil {
				b.Fatal(err)
			}
			if writeOne && d == "/home" {
				if err := os.WriteFile(filepath.Join(upper, "f"), []byte("x"), 0o600); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := end(sb); err != nil {
			b.Fatal(err)
		}
	}
}
