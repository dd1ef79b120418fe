package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// usage is what --stats prints and --report writes. The cgroup's files are the
// source when there is a scope; otherwise init's rusage (which covers every
// process it reaped) gives CPU time and the largest process's peak RSS.
type usage struct {
	WallSeconds  float64 `json:"wall_seconds"`
	CPUUser      float64 `json:"cpu_user_seconds"`
	CPUSystem    float64 `json:"cpu_system_seconds"`
	MemoryPeak   *uint64 `json:"memory_peak_bytes"` // null: not measured
	MemorySource string  `json:"memory_peak_source"`
	TasksPeak    *uint64 `json:"tasks_peak"`
	OOMKills     uint64  `json:"oom_kills"`
	IOReadBytes  *uint64 `json:"io_read_bytes"`
	IOWriteBytes *uint64 `json:"io_write_bytes"`
	ExitStatus   int     `json:"exit_status"`
	Signal       int     `json:"signal"`
	CgroupSource bool    `json:"from_cgroup"`
}

func usageOf(wall time.Duration, res userns.Result, st systemdcgroup.Stats, fromCgroup bool) usage {
	u := usage{WallSeconds: wall.Seconds(), ExitStatus: res.Status, Signal: res.Signal, CgroupSource: fromCgroup}
	if ru := res.Rusage; ru != nil {
		u.CPUUser = time.Duration(ru.Utime.Nano()).Seconds()
		u.CPUSystem = time.Duration(ru.Stime.Nano()).Seconds()
		rss := uint64(ru.Maxrss) * 1024
		u.MemoryPeak, u.MemorySource = &rss, "max_rss"
	}
	if !fromCgroup {
		return u
	}
	if st.Have["cpu.stat"] {
		u.CPUUser, u.CPUSystem = st.CPUUser.Seconds(), st.CPUSystem.Seconds()
	}
	if st.Have["memory.peak"] {
		u.MemoryPeak, u.MemorySource = &st.MemoryPeak, "cgroup"
	}
	if st.Have["pids.peak"] {
		u.TasksPeak = &st.PidsPeak
	}
	u.OOMKills = st.OOMKills
	if st.Have["io.stat"] {
		u.IOReadBytes, u.IOWriteBytes = &st.IORead, &st.IOWrite
	}
	return u
}

func (r *RunCmd) printUsage(u usage, res userns.Result) error {
	if r.Stats {
		fmt.Fprintln(os.Stderr, "sandbox: stats:", u.line())
	}
	if r.Report == "" {
		return nil
	}
	b, _ := json.MarshalIndent(u, "", "  ")
	if err := os.WriteFile(r.Report, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --report: %w", err)
	}
	return nil
}

func (u usage) line() string {
	parts := []string{
		fmt.Sprintf("wall %.3fs", u.WallSeconds),
		fmt.Sprintf("cpu %.3fs user %.3fs sys", u.CPUUser, u.CPUSystem),
	}
	if u.MemoryPeak != nil {
		what := "peak memory"
		if u.MemorySource == "max_rss" {
			what = "peak rss"
		}
		parts = append(parts, fmt.Sprintf("%s %s", what, human(*u.MemoryPeak)))
	}
	if u.TasksPeak != nil {
		parts = append(parts, fmt.Sprintf("peak tasks %d", *u.TasksPeak))
	}
	parts = append(parts, fmt.Sprintf("oom kills %d", u.OOMKills))
	return strings.Join(parts, ", ")
}

func human(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
