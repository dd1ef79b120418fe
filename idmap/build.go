package idmap

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// Mapping is one line of /proc/PID/uid_map (or gid_map): the IDs
// Inside..Inside+Count-1 in the namespace are Outside..Outside+Count-1 on the host.
type Mapping struct{ Inside, Outside, Count uint32 }

// MaxLines is the most lines the kernel takes in one uid_map or gid_map since
// Linux 4.15 (user_namespaces(7)).
const MaxLines = 340

// idLimit is one past the last valid ID: 4294967295 is (uid_t)-1, "no ID", and
// the kernel refuses an extent whose first+count wraps or reaches it.
const idLimit = math.MaxUint32

// Single is the one-line map used without sub-IDs: it needs no helper, since an
// unprivileged process may map its own ID into a namespace it created.
func Single(inside, outside uint32) []Mapping {
	return []Mapping{{Inside: inside, Outside: outside, Count: 1}}
}

// Build returns the map that puts the caller's own host ID outside at inside,
// and fills the rest of the inside ID space from the sub-ID ranges, in order:
// inside IDs 0, 1, 2, ... skipping inside (podman's keep-id layout). With no
// usable ranges it returns Single(inside, outside).
//
// The ranges are sorted, overlapping and adjacent ones merged, and outside
// removed from them: the kernel refuses a map whose outside ranges overlap.
// Lines are sorted by Inside, and contiguous ones merged. The map stops at
// MaxLines lines, the caller's own line always among them, and at inside ID
// 4294967294. inside must itself be a valid ID (below 4294967295).
func Build(inside, outside uint32, subs []Range) []Mapping {
	own := Mapping{Inside: inside, Outside: outside, Count: 1}
	// One line is held back for the caller's own ID until it is placed.
	out := lines{max: MaxLines - 1}
	placeOwn := func() {
		out.max++
		out.add(own)
	}
	placed := false
	next := uint64(0) // the next inside ID to hand out
fill:
	for _, r := range without(normalize(subs), outside) {
		start, left := uint64(r.Start), uint64(r.Length)
		for left > 0 {
			if !placed && next == uint64(inside) {
				placeOwn()
				placed = true
				next++
				continue
			}
			n := min(left, idLimit-next)
			if !placed && next < uint64(inside) {
				n = min(n, uint64(inside)-next) // stop short of the caller's own slot
			}
			if n == 0 {
				break fill // inside ID space used up
			}
			if !out.add(Mapping{Inside: uint32(next), Outside: uint32(start), Count: uint32(n)}) {
				break fill // line limit
			}
			next, start, left = next+n, start+n, left-n
		}
	}
	if !placed {
		placeOwn() // after every sub-ID line, so still sorted by Inside
	}
	return out.m
}

// lines collects map lines, extending the last one when the next continues it
// both inside and outside.
type lines struct {
	m   []Mapping
	max int
}

// add appends e, or extends the last line with it; it reports false, adding
// nothing, when that would need more than max lines.
func (l *lines) add(e Mapping) bool {
	if n := len(l.m); n > 0 {
		last := &l.m[n-1]
		if uint64(last.Inside)+uint64(last.Count) == uint64(e.Inside) &&
			uint64(last.Outside)+uint64(last.Count) == uint64(e.Outside) {
			last.Count += e.Count
			return true
		}
	}
	if len(l.m) >= l.max {
		return false
	}
	l.m = append(l.m, e)
	return true
}

// normalize returns rs sorted by Start with overlapping and adjacent ranges
// merged, empty ones dropped and every range ending at or below idLimit.
func normalize(rs []Range) []Range {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) })
	var out []Range
	for _, r := range s {
		end := min(r.end(), idLimit)
		if end <= uint64(r.Start) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].end() >= uint64(r.Start) {
			last := &out[n-1]
			last.Length = uint32(max(last.end(), end) - uint64(last.Start))
			continue
		}
		out = append(out, Range{Start: r.Start, Length: uint32(end - uint64(r.Start))})
	}
	return out
}

// without returns sorted, merged ranges with id cut out of them.
func without(rs []Range, id uint32) []Range {
	var out []Range
	for _, r := range rs {
		if id < r.Start || uint64(id) >= r.end() {
			out = append(out, r)
			continue
		}
		if id > r.Start {
			out = append(out, Range{Start: r.Start, Length: id - r.Start})
		}
		if rest := r.end() - uint64(id) - 1; rest > 0 {
			out = append(out, Range{Start: id + 1, Length: uint32(rest)})
		}
	}
	return out
}

// HelperArgs returns the arguments of newuidmap or newgidmap that write m for
// process pid: pid, then inside, outside and count for every line.
func HelperArgs(pid int, m []Mapping) []string {
	args := make([]string, 0, 1+3*len(m))
	args = append(args, strconv.Itoa(pid))
	for _, e := range m {
		args = append(args,
			strconv.FormatUint(uint64(e.Inside), 10),
			strconv.FormatUint(uint64(e.Outside), 10),
			strconv.FormatUint(uint64(e.Count), 10))
	}
	return args
}
