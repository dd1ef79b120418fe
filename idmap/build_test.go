package idmap

import (
	"cmp"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name            string
		inside, outside uint32
		subs            []Range
		want            []Mapping
	}{
		{name: "no ranges, root inside", inside: 0, outside: 1000, want: []Mapping{{0, 1000, 1}}},
		{name: "no ranges, keep-id", inside: 1000, outside: 1000, want: []Mapping{{1000, 1000, 1}}},
		{
			name: "root inside", inside: 0, outside: 1000,
			subs: []Range{{100000, 65536}},
			want: []Mapping{{0, 1000, 1}, {1, 100000, 65536}},
		},
		{
			name: "keep-id 1000", inside: 1000, outside: 1000,
			subs: []Range{{100000, 65536}},
			want: []Mapping{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}},
		},
		{
			name: "keep-id past the sub-IDs", inside: 70000, outside: 1000,
			subs: []Range{{100000, 65536}},
			want: []Mapping{{0, 100000, 65536}, {70000, 1000, 1}},
		},
		{
			name: "overlapping ranges merged", inside: 0, outside: 1000,
			subs: []Range{{100000, 1000}, {100500, 1000}, {100200, 10}},
			want: []Mapping{{0, 1000, 1}, {1, 100000, 1500}},
		},
		{
			name: "adjacent ranges merged", inside: 0, outside: 1000,
			subs: []Range{{100010, 10}, {100000, 10}},
			want: []Mapping{{0, 1000, 1}, {1, 100000, 20}},
		},
		{
			name: "ranges sorted, gaps kept outside only", inside: 0, outside: 1000,
			subs: []Range{{300000, 5}, {100000, 10}, {200000, 0}},
			want: []Mapping{{0, 1000, 1}, {1, 100000, 10}, {11, 300000, 5}},
		},
		{
			name: "own ID inside a range excluded", inside: 0, outside: 100005,
			subs: []Range{{100000, 10}},
			want: []Mapping{{0, 100005, 1}, {1, 100000, 5}, {6, 100006, 4}},
		},
		{
			name: "own ID at its own place in a range: one line", inside: 5, outside: 100005,
			subs: []Range{{100000, 10}},
			want: []Mapping{{0, 100000, 10}},
		},
		{
			name: "own ID just below the range: one line", inside: 0, outside: 99999,
			subs: []Range{{100000, 10}},
			want: []Mapping{{0, 99999, 11}},
		},
		{
			name: "range that is only the own ID", inside: 0, outside: 1000,
			subs: []Range{{1000, 1}},
			want: []Mapping{{0, 1000, 1}},
		},
		{
			name: "range clipped below (uid_t)-1", inside: 0, outside: 1000,
			subs: []Range{{4294967290, math.MaxUint32}},
			want: []Mapping{{0, 1000, 1}, {1, 4294967290, 5}},
		},
		{
			name: "whole ID space", inside: 0, outside: 1000,
			subs: []Range{{0, math.MaxUint32}},
			want: []Mapping{{0, 1000, 1}, {1, 0, 1000}, {1001, 1001, 4294966294}},
		},
		{
			name: "whole ID space, keep-id", inside: 1000, outside: 1000,
			subs: []Range{{0, math.MaxUint32}},
			want: []Mapping{{0, 0, 4294967295}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.inside, tt.outside, tt.subs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Build = %v, want %v", got, tt.want)
			}
			checkMap(t, got, tt.inside, tt.outside)
		})
	}
}

func TestBuildLineLimit(t *testing.T) {
	// 400 one-ID ranges with gaps between them: none can merge.
	subs := make([]Range, 400)
	for i := range subs {
		subs[i] = Range{Start: 100000 + 2*uint32(i), Length: 1}
	}
	sub := func(i uint32) Mapping { return Mapping{Inside: i, Outside: 100000 + 2*i, Count: 1} }
	tests := []struct {
		name   string
		inside uint32
		own    int // index of the caller's line
		last   Mapping
	}{
		{name: "root inside", inside: 0, own: 0, last: Mapping{339, 100000 + 2*338, 1}},
		{name: "own line in the middle", inside: 100, own: 100, last: Mapping{339, 100000 + 2*338, 1}},
		{name: "own line past the limit", inside: 1000, own: MaxLines - 1, last: Mapping{1000, 1000, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Build(tt.inside, 1000, subs)
			if len(m) != MaxLines {
				t.Fatalf("%d lines, want %d", len(m), MaxLines)
			}
			if want := (Mapping{tt.inside, 1000, 1}); m[tt.own] != want {
				t.Errorf("line %d = %v, want %v", tt.own, m[tt.own], want)
			}
			if m[len(m)-1] != tt.last {
				t.Errorf("last line = %v, want %v", m[len(m)-1], tt.last)
			}
			if tt.inside == 1000 && m[MaxLines-2] != sub(MaxLines-2) {
				t.Errorf("line %d = %v, want %v", MaxLines-2, m[MaxLines-2], sub(MaxLines-2))
			}
			checkMap(t, m, tt.inside, 1000)
		})
	}

	// Contiguous ranges merge before they are counted.
	for i := range subs {
		subs[i] = Range{Start: 100000 + uint32(i), Length: 1}
	}
	if m := Build(0, 1000, subs); !reflect.DeepEqual(m, []Mapping{{0, 1000, 1}, {1, 100000, 400}}) {
		t.Errorf("contiguous: %v", m)
	}
}

func TestSingle(t *testing.T) {
	if got, want := Single(0, 1000), []Mapping{{0, 1000, 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Single = %v, want %v", got, want)
	}
}

func TestHelperArgs(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		m    []Mapping
		want []string
	}{
		{name: "empty map", pid: 42, want: []string{"42"}},
		{name: "single", pid: 42, m: Single(0, 1000), want: []string{"42", "0", "1000", "1"}},
		{
			name: "keep-id",
			pid:  7,
			m:    []Mapping{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}},
			want: []string{"7", "0", "100000", "1000", "1000", "1000", "1", "1001", "101000", "64536"},
		},
		{name: "large IDs", pid: 1, m: []Mapping{{4294967294, 4294967294, 1}}, want: []string{"1", "4294967294", "4294967294", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HelperArgs(tt.pid, tt.m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HelperArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(uint32(0), uint32(1000), []byte{0, 1, 0x86, 0xa0, 0, 1, 0, 0})
	f.Add(uint32(1000), uint32(100005), []byte{0, 1, 0x86, 0xa0, 0, 0, 0, 10, 0xff, 0xff, 0xff, 0xf0, 0xff, 0, 0, 0})
	f.Fuzz(func(t *testing.T, inside, outside uint32, raw []byte) {
		if inside == math.MaxUint32 {
			return // not a valid ID: Build's precondition
		}
		var subs []Range
		for ; len(raw) >= 8; raw = raw[8:] {
			subs = append(subs, Range{binary.BigEndian.Uint32(raw), binary.BigEndian.Uint32(raw[4:])})
		}
		m := Build(inside, outside, subs)
		checkMap(t, m, inside, outside)
		if len(m) < MaxLines { // not cut short: every sub-ID is mapped
			var n uint64
			for _, e := range m {
				n += uint64(e.Count)
			}
			var want uint64 = 1
			for _, r := range without(normalize(subs), outside) {
				want += uint64(r.Length)
			}
			if n != want {
				t.Errorf("map %v holds %d IDs, want %d", m, n, want)
			}
		}
	})
}

// checkMap fails t unless the kernel would take m (user_namespaces(7)), m is
// sorted by Inside with contiguous lines merged, and m maps inside to outside.
func checkMap(t *testing.T, m []Mapping, inside, outside uint32) {
	t.Helper()
	if len(m) == 0 || len(m) > MaxLines {
		t.Fatalf("map has %d lines, want 1..%d", len(m), MaxLines)
	}
	own := false
	for i, e := range m {
		if e.Count == 0 {
			t.Errorf("line %d %v is empty", i, e)
		}
		if uint64(e.Inside)+uint64(e.Count) > math.MaxUint32 || uint64(e.Outside)+uint64(e.Count) > math.MaxUint32 {
			t.Errorf("line %d %v reaches (uid_t)-1", i, e)
		}
		if inside >= e.Inside && uint64(inside) < uint64(e.Inside)+uint64(e.Count) {
			own = e.Outside+(inside-e.Inside) == outside
		}
		if i == 0 {
			continue
		}
		p := m[i-1]
		if uint64(p.Inside)+uint64(p.Count) > uint64(e.Inside) {
			t.Errorf("lines %d %v and %d %v overlap or are unsorted inside", i-1, p, i, e)
		}
		if uint64(p.Inside)+uint64(p.Count) == uint64(e.Inside) && uint64(p.Outside)+uint64(p.Count) == uint64(e.Outside) {
			t.Errorf("lines %d %v and %d %v are contiguous but not merged", i-1, p, i, e)
		}
	}
	if !own {
		t.Errorf("map %v does not put %d at %d", m, outside, inside)
	}
	byOut := slices.SortedFunc(slices.Values(m), func(a, b Mapping) int { return cmp.Compare(a.Outside, b.Outside) })
	for i := 1; i < len(byOut); i++ {
		if p := byOut[i-1]; uint64(p.Outside)+uint64(p.Count) > uint64(byOut[i].Outside) {
			t.Errorf("lines %v and %v overlap outside", p, byOut[i])
		}
	}
}
