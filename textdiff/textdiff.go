// Package textdiff writes the unified diff of two texts, as `diff -u` and
// `git diff` print it, for `sandbox diff -p`.
//
// Runs anywhere; pure.
package textdiff

import (
	"fmt"
	"io"
	"strings"
)

// context is the number of unchanged lines around each change (diff -u's 3).
const context = 3

// maxEdits bounds the search for a shortest edit script: beyond it, the
// files are one replacement. Still a correct diff, only not the shortest; it
// keeps time and memory (about maxEdits² words) small for a file rewritten
// whole.
const maxEdits = 1000

// op is one line of the edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	line string
}

// Unified writes the diff of a and b (whole texts) to w under the headers
// "--- oldName" and "+++ newName", and nothing when they are equal. A text
// whose last line lacks its newline gets diff's "\ No newline at end of file".
func Unified(w io.Writer, oldName, newName, a, b string) error {
	if a == b {
		return nil
	}
	ops := script(lines(a), lines(b))
	if _, err := fmt.Fprintf(w, "--- %s\n+++ %s\n", oldName, newName); err != nil {
		return err
	}
	for _, h := range hunks(ops) {
		if err := h.write(w, ops); err != nil {
			return err
		}
	}
	return nil
}

// lines splits s after each newline; the last line keeps no newline if s
// has none at its end.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// script is a shortest edit script from a to b (Myers, "An O(ND) Difference
// Algorithm and Its Variations", 1986), common prefix and suffix first.
func script(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []op
	for _, l := range a[:pre] {
		ops = append(ops, op{' ', l})
	}
	ops = append(ops, middle(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{' ', l})
	}
	return ops
}

// middle runs the greedy forward search, keeping each round's furthest
// reaching x per diagonal k = x - y to walk the path back.
func middle(a, b []string) []op {
	n, m := len(a), len(b)
	limit := min(n+m, maxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		// Round d reads diagonals -d-1 .. d+1 only.
		trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return replaceAll(a, b)
	}
	// Walk back from (n, m): each round ends in a diagonal run (kept
	// lines) that starts just after its one edit.
	var rev []op
	x, y := n, m
	for d := found; d > 0; d-- {
		pv := trace[d] // v as round d found it, from diagonal -d-1
		at := func(k int) int { return pv[k+d+1] }
		k := x - y
		down := k == -d || k != d && at(k-1) < at(k+1)
		pk := k - 1
		if down {
			pk = k + 1
		}
		px := at(pk)
		py := px - pk
		mx, my := px+1, py // after deleting a[px]
		if down {
			mx, my = px, py+1 // after inserting b[py]
		}
		for x > mx && y > my {
			x, y = x-1, y-1
			rev = append(rev, op{' ', a[x]})
		}
		if down {
			rev = append(rev, op{'+', b[py]})
		} else {
			rev = append(rev, op{'-', a[px]})
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		rev = append(rev, op{' ', a[x]})
	}
	out := make([]op, len(rev))
	for i, o := range rev {
		out[len(rev)-1-i] = o
	}
	return out
}

func replaceAll(a, b []string) []op {
	ops := make([]op, 0, len(a)+len(b))
	for _, l := range a {
		ops = append(ops, op{'-', l})
	}
	for _, l := range b {
		ops = append(ops, op{'+', l})
	}
	return ops
}

// hunk is ops[from:to].
type hunk struct{ from, to int }

// hunks groups the changes with up to context unchanged lines around them;
// changes closer than 2*context lines share a hunk.
func hunks(ops []op) []hunk {
	var out []hunk
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		h := hunk{from: max(0, i-context)}
		last := i // the last changed op in the hunk
		for j := i + 1; j < len(ops) && j <= last+2*context; j++ {
			if ops[j].kind != ' ' {
				last = j
			}
		}
		h.to = min(len(ops), last+1+context)
		out = append(out, h)
		i = last + 1
	}
	return out
}

func (h hunk) write(w io.Writer, ops []op) error {
	// Line numbers: count the lines of each side before and in the hunk.
	oldStart, newStart := 1, 1
	for _, o := range ops[:h.from] {
		if o.kind != '+' {
			oldStart++
		}
		if o.kind != '-' {
			newStart++
		}
	}
	oldLen, newLen := 0, 0
	for _, o := range ops[h.from:h.to] {
		if o.kind != '+' {
			oldLen++
		}
		if o.kind != '-' {
			newLen++
		}
	}
	if _, err := fmt.Fprintf(w, "@@ -%s +%s @@\n", span(oldStart, oldLen), span(newStart, newLen)); err != nil {
		return err
	}
	for _, o := range ops[h.from:h.to] {
		l := o.line
		tail := ""
		if !strings.HasSuffix(l, "\n") {
			tail = "\n\\ No newline at end of file\n"
		}
		if _, err := fmt.Fprintf(w, "%c%s%s", o.kind, l, tail); err != nil {
			return err
		}
	}
	return nil
}

// span is diff's "start,len", with an empty side starting one line earlier.
func span(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}
