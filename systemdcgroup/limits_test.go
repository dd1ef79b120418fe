package systemdcgroup

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	const (
		k = 1 << 10
		m = 1 << 20
		g = 1 << 30
		T = 1 << 40
	)
	good := []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"1024", 1024},
		{"1024b", 1024},
		{"1024B", 1024},
		{"100k", 100 * k},
		{"100K", 100 * k},
		{"100KB", 100 * k},
		{"100KiB", 100 * k},
		{"100kib", 100 * k},
		{"512M", 512 * m},
		{"512MiB", 512 * m},
		{"2G", 2 * g},
		{"1.5G", 3 * g / 2},
		{"1.5g", 3 * g / 2},
		{"0.5k", 512},
		{"1.0001k", 1024}, // 1024.1024 bytes: the fraction of a byte is dropped
		{"1.9", 1},        // likewise without a unit
		{"3T", 3 * T},
		{"007M", 7 * m},
		{"1.00000000000000000000000000001K", 1024}, // past 19 fraction digits
		{"18446744073709551615", math.MaxUint64},
		{"16777215T", 16777215 * T},
		{"16777215.999999T", 16777215*T + 999999*T/1000000},
		{"16777215.9999999999T", math.MaxUint64 - 109},        // floor(0.9999999999 * 2^40) = 2^40 - 110
		{"16777215.99999999999999999999999T", math.MaxUint64}, // a fraction never rounds up past 2^64
	}
	for _, c := range good {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"", " ", "M", "B", "iB", "kb2", "1 M", " 1M", "1M ", "-1", "+1", "1e3", "0x10",
		"1.", ".5G", "1..5G", "1.5.5G", "1P", "1E", "1X", "1iB", "1Mi", "1MBB", "1bit",
		"NaN", "inf", "infinity", "1,5G", "١٢", // Arabic-Indic digits
		"18446744073709551616", // 2^64
		"99999999999999999999999999999999",
		"16777216T",    // 2^64 exactly
		"17179869184G", // 2^64 exactly
	}
	for _, in := range bad {
		got, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "512M") || !strings.Contains(msg, "powers of 1024") {
			t.Errorf("ParseSize(%q) error %q: want one line naming the accepted forms", in, msg)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"1", time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"0.5", 500 * time.Millisecond},
		{"0.01", 10 * time.Millisecond},
		{"2", 2 * time.Second},
		{"1024", 1024 * time.Second},
		{"1024.0", 1024 * time.Second},
		{"0.1234567", 123456 * time.Microsecond}, // microseconds, systemd's unit
		{"01.50", 1500 * time.Millisecond},
	}
	for _, c := range good {
		got, err := ParseCPUs(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"", "0", "0.0", "0.009", "0.0099999", "-1", "+1", "1.", ".5", "1e0", "NaN", "Inf",
		"1024.000001", "1025", "18446744073709551616", "99999999999999999999", "1,5", "1.5s",
		"150%", " 1", "1 ",
	}
	for _, in := range bad {
		got, err := ParseCPUs(in)
		if err == nil {
			t.Errorf("ParseCPUs(%q) = %v, want an error", in, got)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "0.01 to 1024") {
			t.Errorf("ParseCPUs(%q) error %q: want one line naming the range", in, msg)
		}
	}
}

func TestLimitsControllers(t *testing.T) {
	cases := []struct {
		l    Limits
		want []string
	}{
		{Limits{}, nil},
		{Limits{MemorySwapMax: 1, SwapSet: true}, []string{"memory"}},
		{Limits{SwapSet: true}, []string{"memory"}}, // --memory-swap 0
		{Limits{MemoryMax: 1, MemorySwapMax: 1, SwapSet: true}, []string{"memory"}},
		{Limits{TasksMax: 5, CPUQuota: time.Second}, []string{"cpu", "pids"}},
		{Limits{MemoryMax: 1, CPUQuota: time.Second, TasksMax: 1, IOWeight: 100}, []string{"memory", "cpu", "pids", "io"}},
	}
	for _, c := range cases {
		if got := c.l.Controllers(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v.Controllers() = %v, want %v", c.l, got, c.want)
		}
		if got, want := c.l.Any(), c.want != nil; got != want {
			t.Errorf("%+v.Any() = %v, want %v", c.l, got, want)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	ok := []Limits{{}, {IOWeight: 1}, {IOWeight: 10000}, {CPUQuota: 10 * time.Millisecond}, {CPUQuota: 1024 * time.Second}}
	for _, l := range ok {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v", l, err)
		}
	}
	bad := []Limits{{IOWeight: 10001}, {CPUQuota: time.Millisecond}, {CPUQuota: 1025 * time.Second}, {CPUQuota: -time.Second}}
	for _, l := range bad {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", l)
		}
	}
}

func TestMissingControllers(t *testing.T) {
	cases := []struct {
		want, have, missing []string
	}{
		{nil, nil, nil},
		{nil, []string{"cpu"}, nil},
		{[]string{"memory", "pids"}, nil, []string{"memory", "pids"}},
		{[]string{"memory", "cpu", "pids"}, []string{"cpu", "hugetlb"}, []string{"memory", "pids"}},
		{[]string{"cpu"}, []string{"cpuset"}, []string{"cpu"}}, // no prefix matching
		{[]string{"io", "io"}, nil, []string{"io"}},
		{[]string{"memory", "cpu", "pids", "io"}, []string{"cpuset", "cpu", "io", "memory", "pids"}, nil},
	}
	for _, c := range cases {
		if got := MissingControllers(c.want, c.have); !reflect.DeepEqual(got, c.missing) {
			t.Errorf("MissingControllers(%v, %v) = %v, want %v", c.want, c.have, got, c.missing)
		}
	}
}

func TestAdvice(t *testing.T) {
	got := DelegateAdvice([]string{"memory", "pids"})
	want := `the systemd user manager does not delegate the memory,pids controllers; fix (as root): mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\nDelegate=cpu cpuset io memory pids\n' > /etc/systemd/system/user@.service.d/delegate.conf && systemctl daemon-reload, then log in again`
	if got != want {
		t.Errorf("DelegateAdvice:\n got %s\nwant %s", got, want)
	}
	if got := DelegateAdvice([]string{"io"}); !strings.Contains(got, "the io controller;") {
		t.Errorf("DelegateAdvice(io) = %s", got)
	}
	for _, s := range []string{got, HostAdvice([]string{"memory"})} {
		if strings.ContainsAny(s, "\n\r") {
			t.Errorf("advice is not one line: %q", s)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "1.5G", "100k", "1024", "2GiB", "1.", "18446744073709551615", "16777215.9999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		// A value accepted with a unit is at least the unit times the whole part.
		if strings.HasSuffix(strings.ToLower(s), "g") && !strings.HasPrefix(s, "0") && v < 1<<30 {
			t.Errorf("ParseSize(%q) = %d, below 1G", s, v)
		}
	})
}

func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{"1.5", "0.01", "1024", "0", "1025", "0.0000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCPUs(s)
		if err != nil {
			return
		}
		if d < minCPUQuota || d > maxCPUQuota || d%time.Microsecond != 0 {
			t.Errorf("ParseCPUs(%q) = %v, outside [0.01, 1024] CPUs or finer than 1µs", s, d)
		}
		if err := (Limits{CPUQuota: d}).Validate(); err != nil {
			t.Errorf("ParseCPUs(%q) = %v, which Validate refuses: %v", s, d, err)
		}
	})
}
