package seccomp

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data. Each argument is 64 bits; on the
// little-endian architectures we compile for, its low word comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks an x32 system call on x86_64 (__X32_SYSCALL_BIT). No
// architecture has syscall numbers that high.
const x32Bit = 0x40000000

// x32Action answers every x32 call, whatever the policy: ENOSYS is what a
// kernel without CONFIG_X86_X32_ABI (Debian's, and most others) answers, so
// a program sees no difference. Allowing them would let x32 entry points
// bypass rules written for x86_64 numbers; killing would turn a harmless
// probe into a crash.
const x32Action = Action(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))

// Compile translates p to a classic BPF program for seccomp(2).
//
// The program loads seccomp_data.arch and kills the process unless it is
// p's architecture; then, on x86_64, it answers x32 calls (numbers from
// 0x40000000) with ENOSYS; then it finds the call's number by binary search
// over the sorted ranges of numbers that share an outcome, so an allowed
// call is decided after about log2(ranges) compares. Only calls whose rules
// test arguments load them, after the search: for all others the result
// depends on the number alone, which lets the kernel cache it
// (SECCOMP_ARCH_NATIVE bitmap, Linux 5.11) and skip the filter.
func Compile(p *Policy) ([]unix.SockFilter, error) {
	arch := p.arch()
	if err := p.validate(arch); err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	c := &compiler{p: p, a: newAsm(), blocks: map[string]*label{}}
	a := c.a
	// Architecture first: syscall numbers mean nothing without it.
	a.load(offArch)
	ok := a.newLabel()
	a.jump(unix.BPF_JEQ, uint32(arch), ok, a.ret(KillProcess))
	a.bind(ok)
	a.load(offNr)
	ranges := c.ranges(arch == ArchX86_64)
	root := c.entry(ranges)
	if len(ranges) == 1 {
		a.jumpTo(root)
	} else {
		c.search(ranges, root)
	}
	for _, b := range c.order {
		c.block(b)
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	return prog, nil
}

type compiler struct {
	p      *Policy
	a      *asm
	blocks map[string]*label // argument-checking code, by outcome key
	order  []*outcome        // blocks in the order they are first used
}

// outcome is what the filter does for a syscall number once it is known:
// return ret, or, when rules is not empty, try those rules (indices into
// p.Rules, all with Args) in order and return ret if none matches.
type outcome struct {
	ret   Action
	rules []int
	key   string
	l     *label
}

func plain(act Action) *outcome {
	return &outcome{ret: act, key: "ret " + strconv.FormatUint(uint64(act), 16)}
}

// span is the numbers from lo up to the next span's lo.
type span struct {
	lo  uint32
	out *outcome
}

// ranges splits all 32-bit numbers into spans of equal outcome.
func (c *compiler) ranges(x32 bool) []span {
	byNr := map[uint32][]int{}
	for i, r := range c.p.Rules {
		for _, nr := range r.Syscalls {
			if l := byNr[nr]; len(l) == 0 || l[len(l)-1] != i {
				byNr[nr] = append(l, i)
			}
		}
	}
	nrs := make([]uint32, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	def := plain(c.p.DefaultAction)
	var spans []span
	add := func(lo uint32, out *outcome) {
		if n := len(spans); n > 0 && spans[n-1].out.key == out.key {
			return
		}
		spans = append(spans, span{lo, out})
	}
	next := uint64(0)
	for _, nr := range nrs {
		if uint64(nr) > next {
			add(uint32(next), def)
		}
		add(nr, c.outcome(byNr[nr]))
		next = uint64(nr) + 1
	}
	if next < x32Bit {
		add(uint32(next), def)
	}
	if x32 {
		add(x32Bit, plain(x32Action))
	}
	return spans
}

// outcome reduces the rules naming one number: rules after the first
// without Args never apply, and trailing rules whose action is what
// applies anyway change nothing.
func (c *compiler) outcome(idx []int) *outcome {
	rules := c.p.Rules
	ret := c.p.DefaultAction
	for j, i := range idx {
		if len(rules[i].Args) == 0 {
			ret, idx = rules[i].Action, idx[:j]
			break
		}
	}
	for len(idx) > 0 && rules[idx[len(idx)-1]].Action == ret {
		idx = idx[:len(idx)-1]
	}
	if len(idx) == 0 {
		return plain(ret)
	}
	key := make([]string, len(idx))
	for j, i := range idx {
		key[j] = strconv.Itoa(i)
	}
	return &outcome{ret: ret, rules: idx,
		key: "rules " + strings.Join(key, ",") + " else " + strconv.FormatUint(uint64(ret), 16)}
}

// entry returns the label where the search over spans starts: the outcome's
// code for a single span, or a new label for search to bind.
func (c *compiler) entry(spans []span) *label {
	if len(spans) > 1 {
		return c.a.newLabel()
	}
	out := spans[0].out
	if len(out.rules) == 0 {
		return c.a.ret(out.ret)
	}
	if l, ok := c.blocks[out.key]; ok {
		return l
	}
	out.l = c.a.newLabel()
	c.blocks[out.key] = out.l
	c.order = append(c.order, out)
	return out.l
}

// search emits a balanced binary search over spans (at least two), starting
// at l, with A holding the syscall number. The lower half follows each
// compare, so only jumps to upper halves can grow long.
func (c *compiler) search(spans []span, l *label) {
	mid := len(spans) / 2
	lower, upper := c.entry(spans[:mid]), c.entry(spans[mid:])
	c.a.bind(l)
	c.a.jump(unix.BPF_JGE, spans[mid].lo, upper, lower)
	if mid > 1 {
		c.search(spans[:mid], lower)
	}
	if len(spans)-mid > 1 {
		c.search(spans[mid:], upper)
	}
}

// block emits the argument checks of out: each rule's conditions in turn,
// any failing one moving on to the next rule.
func (c *compiler) block(out *outcome) {
	a := c.a
	a.bind(out.l)
	for j, i := range out.rules {
		r := c.p.Rules[i]
		fail := a.ret(out.ret)
		if j < len(out.rules)-1 {
			fail = a.newLabel()
		}
		for k, arg := range r.Args {
			pass := a.ret(r.Action)
			if k < len(r.Args)-1 {
				pass = a.newLabel()
			}
			c.cond(arg, pass, fail)
			if k < len(r.Args)-1 {
				a.bind(pass)
			}
		}
		if j < len(out.rules)-1 {
			a.bind(fail)
		}
	}
}

// cond emits a test of one 64-bit argument as two 32-bit halves, high
// first: the high halves decide unless they are equal.
func (c *compiler) cond(arg Arg, pass, fail *label) {
	a := c.a
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	v := arg.Value
	vlo, vhi := uint32(v), uint32(v>>32)
	if arg.Op == OpMaskedEqual {
		c.masked(hi, uint32(v>>32), uint32(arg.ValueTwo>>32), nil, fail)
		c.masked(lo, uint32(v), uint32(arg.ValueTwo), pass, fail)
		return
	}
	a.load(hi)
	next := a.newLabel()
	switch arg.Op {
	case OpEqual:
		a.jump(unix.BPF_JEQ, vhi, next, fail)
	case OpNotEqual:
		a.jump(unix.BPF_JEQ, vhi, next, pass)
	case OpGreater, OpGreaterEqual:
		eq := a.newLabel()
		a.jump(unix.BPF_JGT, vhi, pass, eq)
		a.bind(eq)
		a.jump(unix.BPF_JEQ, vhi, next, fail)
	case OpLess, OpLessEqual:
		eq := a.newLabel()
		a.jump(unix.BPF_JGT, vhi, fail, eq)
		a.bind(eq)
		a.jump(unix.BPF_JEQ, vhi, next, pass)
	}
	a.bind(next)
	a.load(lo)
	switch arg.Op {
	case OpEqual:
		a.jump(unix.BPF_JEQ, vlo, pass, fail)
	case OpNotEqual:
		a.jump(unix.BPF_JEQ, vlo, fail, pass)
	case OpGreater:
		a.jump(unix.BPF_JGT, vlo, pass, fail)
	case OpGreaterEqual:
		a.jump(unix.BPF_JGE, vlo, pass, fail)
	case OpLess:
		a.jump(unix.BPF_JGE, vlo, fail, pass)
	case OpLessEqual:
		a.jump(unix.BPF_JGT, vlo, fail, pass)
	}
}

// masked tests (word at off) & mask == want, going on to pass (nil: the
// next instruction) or to fail.
func (c *compiler) masked(off, mask, want uint32, pass, fail *label) {
	a := c.a
	next := pass
	if pass == nil {
		next = a.newLabel()
		defer a.bind(next)
	}
	switch {
	case want&^mask != 0: // Can never hold.
		a.jumpTo(fail)
	case mask == 0: // Always holds.
		if pass != nil {
			a.jumpTo(pass)
		}
	case want == 0:
		a.load(off)
		a.jump(unix.BPF_JSET, mask, fail, next)
	case want == mask && bits.OnesCount32(mask) == 1:
		a.load(off)
		a.jump(unix.BPF_JSET, mask, next, fail)
	default:
		a.load(off)
		if mask != ^uint32(0) {
			a.and(mask)
		}
		a.jump(unix.BPF_JEQ, want, next, fail)
	}
}
