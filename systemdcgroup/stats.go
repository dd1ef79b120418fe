package systemdcgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stats is what a cgroup used. Read it before the scope is stopped: systemd
// removes the cgroup directory with the unit.
type Stats struct {
	CPUUser, CPUSystem time.Duration
	MemoryPeak         uint64 // bytes
	PidsPeak           uint64
	OOMKills           uint64
	IORead, IOWrite    uint64 // bytes, summed over devices
	// Have records which files existed ("cpu.stat", "memory.peak", ...): a
	// controller that is not enabled has no files, and its fields stay zero.
	Have map[string]bool
}

// ReadStats reads cpu.stat, memory.peak, pids.peak, memory.events and io.stat
// of a cgroup2 directory (see the kernel's cgroup-v2.rst). A missing file is
// recorded in Have, not an error.
func ReadStats(dir string) (Stats, error) {
	st := Stats{Have: map[string]bool{}}
	readers := []struct {
		file  string
		parse func(string) error
	}{
		{"cpu.stat", func(s string) error {
			kv, err := parseFlatKeyed(s)
			st.CPUUser = time.Duration(kv["user_usec"]) * time.Microsecond
			st.CPUSystem = time.Duration(kv["system_usec"]) * time.Microsecond
			return err
		}},
		{"memory.peak", func(s string) (err error) { st.MemoryPeak, err = parseSingle(s); return err }},
		{"pids.peak", func(s string) (err error) { st.PidsPeak, err = parseSingle(s); return err }},
		{"memory.events", func(s string) error {
			kv, err := parseFlatKeyed(s)
			st.OOMKills = kv["oom_kill"]
			return err
		}},
		{"io.stat", func(s string) (err error) { st.IORead, st.IOWrite, err = parseIOStat(s); return err }},
	}
	for _, r := range readers {
		b, err := os.ReadFile(filepath.Join(dir, r.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return st, fmt.Errorf("read cgroup stats: %w", err)
		}
		st.Have[r.file] = true
		if err := r.parse(string(b)); err != nil {
			return st, fmt.Errorf("parse %s: %w", filepath.Join(dir, r.file), err)
		}
	}
	return st, nil
}

// parseFlatKeyed parses "key value" lines (cpu.stat, memory.events).
func parseFlatKeyed(s string) (map[string]uint64, error) {
	kv := map[string]uint64{}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return kv, fmt.Errorf("parse line %q: want key and value", strings.TrimSpace(line))
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return kv, fmt.Errorf("parse value of %s: %w", f[0], err)
		}
		kv[f[0]] = v
	}
	return kv, nil
}

// parseSingle parses a one-number file (memory.peak, pids.peak).
func parseSingle(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse number: %w", err)
	}
	return v, nil
}

// parseIOStat sums rbytes and wbytes over the devices of io.stat, whose lines
// read "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
func parseIOStat(s string) (read, written uint64, err error) {
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || (k != "rbytes" && k != "wbytes") {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return read, written, fmt.Errorf("parse %s of device %s: %w", k, f[0], err)
			}
			if k == "rbytes" {
				read += n
			} else {
				written += n
			}
		}
	}
	return read, written, nil
}
