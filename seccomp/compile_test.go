package seccomp

import (
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// reference decides a call the slow, obvious way, to check Compile against.
func reference(p *Policy, d seccompData) Action {
	if d.arch != uint32(p.arch()) {
		return KillProcess
	}
	if p.arch() == ArchX86_64 && d.nr >= x32Bit {
		return x32Action
	}
	for _, r := range p.Rules {
		if !contains(r.Syscalls, d.nr) {
			continue
		}
		ok := true
		for _, a := range r.Args {
			ok = ok && holds(a, d.args[a.Index])
		}
		if ok {
			return r.Action
		}
	}
	return p.DefaultAction
}

func contains(nrs []uint32, nr uint32) bool {
	for _, n := range nrs {
		if n == nr {
			return true
		}
	}
	return false
}

func holds(a Arg, x uint64) bool {
	switch a.Op {
	case OpEqual:
		return x == a.Value
	case OpNotEqual:
		return x != a.Value
	case OpLess:
		return x < a.Value
	case OpLessEqual:
		return x <= a.Value
	case OpGreater:
		return x > a.Value
	case OpGreaterEqual:
		return x >= a.Value
	case OpMaskedEqual:
		return x&a.Value == a.ValueTwo
	}
	panic("bad op")
}

func mustCompile(t testing.TB, p *Policy) []unix.SockFilter {
	t.Helper()
	prog, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := verify(prog); err != nil {
		t.Fatalf("verify: %v\n%s", err, Disassemble(prog))
	}
	return prog
}

// interesting are argument values at the edges of the 32-bit halves.
func interestingValues() []uint64 {
	return []uint64{
		0, 1, 2, 0x7f, 0xfffffffe, 0xffffffff, 1 << 32, 1<<32 | 1, 1<<32 - 1 + 1<<33,
		0xffffffff00000000, 0xffffffff00000001, 0xfffffffffffffffe, 0xffffffffffffffff,
		0x5412, 0xdeadbeef00005412, 0x8000000000000000, 0x7fffffffffffffff,
	}
}

func TestCompareOps(t *testing.T) {
	interesting := interestingValues()
	for op := OpEqual; op <= OpMaskedEqual; op++ {
		for _, v := range interesting {
			for _, v2 := range []uint64{0, v, v & 0xffff0000ffff, 1} {
				if op != OpMaskedEqual && v2 != 0 {
					continue
				}
				arg := Arg{Index: 3, Op: op, Value: v, ValueTwo: v2}
				p := &Policy{DefaultAction: Allow, Arch: ArchX86_64, Rules: []Rule{
					{Syscalls: []uint32{16}, Action: Errno(unix.EPERM), Args: []Arg{arg}},
				}}
				prog := mustCompile(t, p)
				for _, x := range interesting {
					for _, x := range []uint64{x, x + 1, x - 1, x ^ 0xffffffff00000000} {
						d := seccompData{nr: 16, arch: uint32(ArchX86_64)}
						d.args[3] = x
						got, _ := mustRun(t, prog, d)
						if want := reference(p, d); got != want {
							t.Fatalf("%v %#x/%#x on %#x: got %v, want %v\n%s", op, v, v2, x, got, want, Disassemble(prog))
						}
					}
				}
			}
		}
	}
}

// randomPolicy makes a policy with syscalls clustered in 0..max, so that
// numbers share and split ranges, and conditions on edge values.
func randomPolicy(r *rand.Rand, max int) *Policy {
	interesting := interestingValues()
	actions := []Action{Allow, Errno(unix.EPERM), Errno(unix.ENOSYS), Errno(0), KillProcess, KillThread, Trap, Log, Trace(7)}
	pick := func() Action { return actions[r.IntN(len(actions))] }
	p := &Policy{DefaultAction: pick(), Arch: ArchX86_64}
	if r.IntN(3) == 0 {
		p.Arch = ArchAARCH64
	}
	for range r.IntN(60) {
		rule := Rule{Action: pick()}
		base := r.IntN(max)
		for range 1 + r.IntN(6) {
			nr := base + r.IntN(8)
			if r.IntN(4) == 0 {
				nr = r.IntN(max)
			}
			rule.Syscalls = append(rule.Syscalls, uint32(nr))
		}
		if r.IntN(2) == 0 {
			for range 1 + r.IntN(3) {
				a := Arg{Index: uint(r.IntN(maxArgs)), Op: Op(1 + r.IntN(7)),
					Value: interesting[r.IntN(len(interesting))], ValueTwo: interesting[r.IntN(len(interesting))]}
				if a.Op == OpMaskedEqual && r.IntN(2) == 0 {
					a.ValueTwo &= a.Value
				}
				rule.Args = append(rule.Args, a)
			}
		}
		p.Rules = append(p.Rules, rule)
	}
	return p
}

func TestRandomPolicies(t *testing.T) {
	interesting := interestingValues()
	r := rand.New(rand.NewPCG(1, 2))
	const max = 500
	for i := range 200 {
		p := randomPolicy(r, max)
		prog := mustCompile(t, p)
		arches := []uint32{uint32(p.arch()), unix.AUDIT_ARCH_I386, uint32(ArchX86_64 ^ ArchAARCH64 ^ p.arch())}
		nrs := []uint32{x32Bit - 1, x32Bit, x32Bit + 2, 0x80000000, 0xffffffff}
		for nr := range uint32(max + 10) {
			nrs = append(nrs, nr)
		}
		for _, nr := range nrs {
			for k := range 6 {
				d := seccompData{nr: nr, arch: arches[0]}
				if k == 5 {
					d.arch = arches[r.IntN(3)]
				}
				for j := range d.args {
					d.args[j] = interesting[r.IntN(len(interesting))] + uint64(r.IntN(3)) - 1
				}
				got, _ := mustRun(t, prog, d)
				if want := reference(p, d); got != want {
					t.Fatalf("policy %d, %+v: got %v, want %v\npolicy: %+v\n%s", i, d, got, want, p, Disassemble(prog))
				}
			}
		}
	}
}

// TestLongJumps forces jumps beyond 255 instructions, over argument blocks
// and a search tree with many spans.
func TestLongJumps(t *testing.T) {
	interesting := interestingValues()
	p := &Policy{DefaultAction: Errno(unix.EPERM), Arch: ArchX86_64}
	for nr := uint32(0); nr < 400; nr += 2 {
		p.Rules = append(p.Rules, Rule{Syscalls: []uint32{nr}, Action: Allow, Args: []Arg{
			{Index: uint(nr % 6), Op: OpGreaterEqual, Value: uint64(nr) << 31},
			{Index: uint(nr+1) % 6, Op: OpNotEqual, Value: uint64(nr)},
		}})
		if nr%6 == 0 {
			p.Rules = append(p.Rules, Rule{Syscalls: []uint32{nr + 1}, Action: Errno(syscallErrno(nr))})
		}
	}
	prog := mustCompile(t, p)
	if len(prog) < 1000 {
		t.Fatalf("program has only %d instructions; the test wants long jumps", len(prog))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for nr := range uint32(410) {
		for range 20 {
			d := seccompData{nr: nr, arch: uint32(ArchX86_64)}
			for j := range d.args {
				d.args[j] = interesting[r.IntN(len(interesting))] + uint64(nr)<<31*uint64(r.IntN(2))
			}
			if got, want := func() Action { a, _ := mustRun(t, prog, d); return a }(), reference(p, d); got != want {
				t.Fatalf("%+v: got %v, want %v\n%s", d, got, want, Disassemble(prog))
			}
		}
	}
}

func syscallErrno(nr uint32) unix.Errno { return unix.Errno(1 + nr%100) }

func TestTooLong(t *testing.T) {
	p := &Policy{DefaultAction: Allow, Arch: ArchX86_64}
	for nr := range uint32(900) {
		p.Rules = append(p.Rules, Rule{Syscalls: []uint32{nr}, Action: Errno(unix.EPERM), Args: []Arg{
			{Index: 0, Op: OpLess, Value: uint64(nr)}, {Index: 1, Op: OpGreater, Value: uint64(nr)},
		}})
	}
	_, err := Compile(p)
	if err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("Compile of a huge policy: got %v, want the 4096-instruction limit", err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{DefaultAction: Errno(5000)}, "default action: errno 5000 is out of range"},
		{Policy{DefaultAction: Action(unix.SECCOMP_RET_USER_NOTIF)}, "default action: user notification"},
		{Policy{DefaultAction: Allow, Arch: 0x40000003}, "arch: unsupported architecture"},
		{Policy{DefaultAction: Allow, Rules: []Rule{{Action: Allow}}}, "rules[0].syscalls: empty"},
		{Policy{DefaultAction: Allow, Rules: []Rule{{Syscalls: []uint32{x32Bit | 1}}}}, "rules[0].syscalls: 1073741825 is out of range"},
		{Policy{DefaultAction: Allow, Rules: []Rule{{Syscalls: []uint32{1}, Args: []Arg{{Index: 6, Op: OpEqual}}}}}, "rules[0].args[0].index: 6 is out of range"},
		{Policy{DefaultAction: Allow, Rules: []Rule{{Syscalls: []uint32{1}, Args: []Arg{{Op: 0}}}}}, "rules[0].args[0].op: unknown operator"},
	} {
		_, err := Compile(&tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%+v): got %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestEmptyPolicy compiles a policy with no rules, whose search has one
// span on arm64.
func TestEmptyPolicy(t *testing.T) {
	for _, arch := range []Arch{ArchX86_64, ArchAARCH64} {
		p := &Policy{DefaultAction: Errno(unix.EACCES), Arch: arch}
		prog := mustCompile(t, p)
		for _, nr := range []uint32{0, 1, x32Bit, 0xffffffff} {
			d := seccompData{nr: nr, arch: uint32(arch)}
			if got, want := func() Action { a, _ := mustRun(t, prog, d); return a }(), reference(p, d); got != want {
				t.Errorf("%v nr %#x: got %v, want %v\n%s", arch, nr, got, want, Disassemble(prog))
			}
		}
	}
}
