package systemdcgroup

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadStats(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"cpu.stat": "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\n" +
			"core_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
		"memory.peak":   "67108864\n",
		"pids.peak":     "12\n",
		"memory.events": "low 0\nhigh 0\nmax 31\noom 2\noom_kill 1\noom_group_kill 0\n",
		"io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n" +
			"253:1 rbytes=1000 wbytes=24 rios=3 wios=1 dbytes=512 dios=1\n",
	})
	got, err := ReadStats(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		CPUUser: 2500 * time.Millisecond, CPUSystem: time.Second,
		MemoryPeak: 64 << 20, PidsPeak: 12, OOMKills: 1,
		IORead: 5096, IOWrite: 8216,
		Have: map[string]bool{"cpu.stat": true, "memory.peak": true, "pids.peak": true, "memory.events": true, "io.stat": true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadStats =\n%+v\nwant\n%+v", got, want)
	}
}

// On this host's hybrid cgroups a scope has only cpu.stat (always there in
// cgroup2) and no memory, pids or io files.
func TestReadStatsMissingFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{"cpu.stat": "usage_usec 10\nuser_usec 7\nsystem_usec 3\n", "io.stat": ""})
	got, err := ReadStats(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUUser: 7 * time.Microsecond, CPUSystem: 3 * time.Microsecond, Have: map[string]bool{"cpu.stat": true, "io.stat": true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadStats = %+v, want %+v", got, want)
	}
	got, err = ReadStats(filepath.Join(t.TempDir(), "gone"))
	if err != nil || len(got.Have) != 0 {
		t.Errorf("ReadStats(removed dir) = %+v, %v; want nothing, no error", got, err)
	}
}

func TestReadStatsBadFiles(t *testing.T) {
	for name, text := range map[string]string{
		"cpu.stat":      "user_usec lots\n",
		"memory.peak":   "max\n",
		"pids.peak":     "",
		"memory.events": "oom_kill 1 2\n",
		"io.stat":       "8:0 rbytes=-1\n",
	} {
		if _, err := ReadStats(writeFiles(t, map[string]string{name: text})); err == nil {
			t.Errorf("ReadStats with %s = %q: want an error", name, text)
		}
	}
}

func TestProcState(t *testing.T) {
	for stat, want := range map[string]byte{
		"42 (cat) S 1 42": 'S',
		"42 (a) b) R 1":   'R',
		"42 (cat":         0,
		"42 (cat)":        0,
	} {
		if got := procState([]byte(stat)); got != want {
			t.Errorf("procState(%q) = %q, want %q", stat, got, want)
		}
	}
}
