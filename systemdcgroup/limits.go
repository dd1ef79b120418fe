package systemdcgroup

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits are the cgroup limits of one sandbox. A zero field is not set.
type Limits struct {
	MemoryMax, MemorySwapMax uint64 // bytes
	// SwapSet: MemorySwapMax was given. Its 0 is a limit (no swap at all),
	// unlike the other fields' 0.
	SwapSet bool
	// CPUQuota is CPU time per wall-clock second (1.5 CPUs = 1.5s), systemd's
	// CPUQuotaPerSecUSec.
	CPUQuota time.Duration
	// CPUWeight is the cgroup's share of contended CPU, 1..10000 (the OCI
	// runtime's cpu.shares, converted).
	CPUWeight uint64
	TasksMax  uint64
	IOWeight  uint64 // 1..10000
}

const (
	// minCPUQuota is the kernel's floor for cpu.max (1 ms of quota) at
	// systemd's default 100 ms period: 0.01 CPUs.
	minCPUQuota = 10 * time.Millisecond
	maxCPUs     = 1024
	maxCPUQuota = maxCPUs * time.Second
)

// Any reports whether any limit is set.
func (l Limits) Any() bool { return l != Limits{} }

// Controllers returns the cgroup controllers the set limits need, in the
// order memory, cpu, pids, io.
func (l Limits) Controllers() []string {
	var c []string
	if l.MemoryMax != 0 || l.SwapSet {
		c = append(c, "memory")
	}
	if l.CPUQuota != 0 || l.CPUWeight != 0 {
		c = append(c, "cpu")
	}
	if l.TasksMax != 0 {
		c = append(c, "pids")
	}
	if l.IOWeight != 0 {
		c = append(c, "io")
	}
	return c
}

// Validate checks the ranges systemd and the kernel accept, so a bad value is
// refused before a scope exists rather than by a failed job.
func (l Limits) Validate() error {
	if l.CPUWeight > 10000 {
		return fmt.Errorf("check cpu weight %d: want 1 to 10000", l.CPUWeight)
	}
	if l.IOWeight > 10000 {
		return fmt.Errorf("check io weight %d: want 1 to 10000", l.IOWeight)
	}
	if l.CPUQuota != 0 && (l.CPUQuota < minCPUQuota || l.CPUQuota > maxCPUQuota) {
		return fmt.Errorf("check cpu quota %v per second: want 0.01 to %d CPUs", l.CPUQuota, maxCPUs)
	}
	return nil
}

// MissingControllers returns the controllers of want that are not in have,
// in want's order.
func MissingControllers(want, have []string) []string {
	var missing []string
	for _, c := range want {
		if !slices.Contains(have, c) && !slices.Contains(missing, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// DelegateAdvice is the one-line fix for limits whose controllers the user
// manager does not delegate: systemd delegates only cpu, memory and pids to
// user@.service by default on some distributions, and none on older ones.
func DelegateAdvice(missing []string) string {
	noun := "controllers"
	if len(missing) == 1 {
		noun = "controller"
	}
	// printf's \n stays two characters here: the advice must be one line.
	return fmt.Sprintf("the systemd user manager does not delegate the %s %s; "+
		`fix (as root): mkdir -p /etc/systemd/system/user@.service.d && `+
		`printf '[Service]\nDelegate=cpu cpuset io memory pids\n' > /etc/systemd/system/user@.service.d/delegate.conf && `+
		"systemctl daemon-reload, then log in again",
		strings.Join(missing, ","), noun)
}

// HostAdvice is the one-line explanation for controllers the cgroup2
// hierarchy itself lacks (see HostControllers): on hybrid hosts they are bound
// to cgroup v1 hierarchies, and no delegation can bring them to cgroup2.
func HostAdvice(missing []string) string {
	return fmt.Sprintf("the host's cgroup2 hierarchy has no %s controller(s) (hybrid cgroups: they are bound to cgroup v1); "+
		"fix (as root): boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line",
		strings.Join(missing, ","))
}

const sizeForms = "want bytes, or a number with K, M, G or T (powers of 1024) and an optional B or iB: 1024, 100k, 512M, 1.5G"

// ParseSize parses a byte size such as "512M", "1.5G", "100k", "2GiB" or
// "1024". Units are powers of 1024; a fraction of a byte is dropped.
func ParseSize(s string) (uint64, error) {
	v, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("parse size %q: %w (%s)", s, err, sizeForms)
	}
	return v, nil
}

var errTooLarge = errors.New("too large")

func parseSize(s string) (uint64, error) {
	rest := strings.ToLower(s)
	rest, hadB := strings.CutSuffix(rest, "b")
	rest, hadI := strings.CutSuffix(rest, "i")
	if hadI && !hadB {
		return 0, errors.New("unknown unit")
	}
	shift := uint(0)
	if n := len(rest); n > 0 {
		if i := strings.IndexByte("kmgt", rest[n-1]); i >= 0 {
			shift = 10 * uint(i+1)
			rest = rest[:n-1]
		}
	}
	if hadI && shift == 0 {
		return 0, errors.New("iB needs K, M, G or T before it")
	}
	whole, frac, hasDot := strings.Cut(rest, ".")
	if !isDigits(whole) || (hasDot && !isDigits(frac)) {
		return 0, errors.New("not a number")
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, errTooLarge // isDigits leaves only the range error
	}
	hi, v := bits.Mul64(w, 1<<shift)
	if hi != 0 {
		return 0, errTooLarge
	}
	if hasDot && shift > 0 {
		// Digits past 19 change the result by less than a byte (2^40/10^19),
		// and 10^19 is the largest power of ten in a uint64.
		frac = frac[:min(len(frac), 19)]
		f, _ := strconv.ParseUint(frac, 10, 64)
		fhi, flo := bits.Mul64(f, 1<<shift)
		q, _ := bits.Div64(fhi, flo, pow10(len(frac))) // f < 10^n, so fhi < 10^n: no panic
		var carry uint64
		v, carry = bits.Add64(v, q, 0)
		if carry != 0 {
			return 0, errTooLarge
		}
	}
	return v, nil
}

// ParseCPUs parses a number of CPUs such as "1.5" or "2" into CPU time per
// second: "1.5" is 1.5s. Precision is one microsecond, systemd's unit.
func ParseCPUs(s string) (time.Duration, error) {
	d, err := parseCPUs(s)
	if err != nil {
		return 0, fmt.Errorf("parse CPUs %q: %w (want a number of CPUs from 0.01 to %d: 0.5, 2, 1.5)", s, err, maxCPUs)
	}
	return d, nil
}

func parseCPUs(s string) (time.Duration, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if !isDigits(whole) || (hasDot && !isDigits(frac)) {
		return 0, errors.New("not a number")
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > maxCPUs {
		return 0, errTooLarge
	}
	usec := w * 1e6
	if hasDot {
		frac = (frac + "000000")[:6] // microseconds; finer digits are dropped
		f, _ := strconv.ParseUint(frac, 10, 64)
		usec += f
	}
	d := time.Duration(usec) * time.Microsecond
	switch {
	case d > maxCPUQuota:
		return 0, errTooLarge
	case d < minCPUQuota:
		return 0, errors.New("too small")
	}
	return d, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}
