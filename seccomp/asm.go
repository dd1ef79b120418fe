package seccomp

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// A small classic-BPF assembler with forward labels. Conditional jumps
// reach at most 255 instructions ahead; assemble inserts, right after a
// jump whose target is further, a copy of the target when it is a return
// (a return has no successor, so a copy behaves the same) or else an
// unconditional JA, whose offset has 32 bits. Returns are pooled at the end
// of the program, so every path that ends in the same action shares one.

// insn is an instruction whose jump targets are labels until assemble.
type insn struct {
	code   uint16
	k      uint32
	jt, jf *label // conditional jumps
	ja     *label // BPF_JA
	pos    int    // index in the program, set by layout
}

// label names the instruction it is bound to.
type label struct{ at *insn }

type asm struct {
	prog    []*insn
	pending []*label // bound to the next instruction emitted
	rets    map[Action]*label
	pool    []*insn
}

func newAsm() *asm { return &asm{rets: map[Action]*label{}} }

func (a *asm) newLabel() *label { return &label{} }

// bind makes l name the next instruction emitted.
func (a *asm) bind(l *label) { a.pending = append(a.pending, l) }

func (a *asm) emit(in *insn) {
	for _, l := range a.pending {
		l.at = in
	}
	a.pending = a.pending[:0]
	a.prog = append(a.prog, in)
}

// load loads the 32-bit word at offset off of struct seccomp_data into A.
func (a *asm) load(off uint32) {
	a.emit(&insn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

func (a *asm) and(k uint32) {
	a.emit(&insn{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

// jump emits "if A op k goto jt else goto jf"; op is BPF_JEQ, BPF_JGT,
// BPF_JGE or BPF_JSET.
func (a *asm) jump(op uint16, k uint32, jt, jf *label) {
	a.emit(&insn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

func (a *asm) jumpTo(l *label) {
	a.emit(&insn{code: unix.BPF_JMP | unix.BPF_JA, ja: l})
}

// ret returns the label of the pooled "return act".
func (a *asm) ret(act Action) *label {
	if l, ok := a.rets[act]; ok {
		return l
	}
	in := &insn{code: unix.BPF_RET | unix.BPF_K, k: uint32(act)}
	a.pool = append(a.pool, in)
	l := &label{at: in}
	a.rets[act] = l
	return l
}

func isRet(in *insn) bool { return in.code == unix.BPF_RET|unix.BPF_K }

// assemble appends the return pool, makes every jump reach, and encodes.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	if len(a.pending) != 0 {
		return nil, fmt.Errorf("assemble: label bound past the end")
	}
	a.prog = append(a.prog, a.pool...)
	a.pool = nil
	for {
		a.layout()
		if len(a.prog) > unix.BPF_MAXINSNS {
			return nil, fmt.Errorf("program has more than %d instructions, the kernel's limit", unix.BPF_MAXINSNS)
		}
		changed, err := a.relaxOne()
		if err != nil {
			return nil, err
		}
		if !changed {
			break
		}
	}
	out := make([]unix.SockFilter, len(a.prog))
	for i, in := range a.prog {
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch {
		case in.ja != nil:
			f.K = uint32(in.ja.at.pos - i - 1)
		case in.jt != nil:
			f.Jt = uint8(in.jt.at.pos - i - 1)
			f.Jf = uint8(in.jf.at.pos - i - 1)
		}
		out[i] = f
	}
	return out, nil
}

func (a *asm) layout() {
	for i, in := range a.prog {
		in.pos = i
	}
}

// relaxOne retargets the first branch that is too far and reports whether
// it changed anything. A backward jump is a compiler bug the kernel would
// reject.
func (a *asm) relaxOne() (bool, error) {
	for i, in := range a.prog {
		if in.ja != nil && in.ja.at == nil || in.jt != nil && (in.jt.at == nil || in.jf.at == nil) {
			return false, fmt.Errorf("assemble: unbound label at %d", i)
		}
		if in.ja != nil && in.ja.at.pos <= i {
			return false, fmt.Errorf("assemble: backward jump at %d", i)
		}
		if in.jt == nil {
			continue
		}
		for _, br := range []**label{&in.jt, &in.jf} {
			off := (*br).at.pos - i - 1
			if off < 0 {
				return false, fmt.Errorf("assemble: backward jump at %d", i)
			}
			if off > 255 {
				*br = a.trampoline(i, (*br).at)
				return true, nil
			}
		}
	}
	return false, nil
}

// trampoline returns a label within reach of the jump at i that leads to
// target: a fitting instruction already in range, or a new one at i+1.
func (a *asm) trampoline(i int, target *insn) *label {
	for j := i + 1; j < len(a.prog) && j <= i+256; j++ {
		c := a.prog[j]
		if isRet(target) && isRet(c) && c.k == target.k || c.ja != nil && c.ja.at == target {
			return &label{at: c}
		}
	}
	t := &insn{code: target.code, k: target.k}
	if !isRet(target) {
		t = &insn{code: unix.BPF_JMP | unix.BPF_JA, ja: &label{at: target}}
	}
	a.prog = append(a.prog[:i+1], append([]*insn{t}, a.prog[i+1:]...)...)
	return &label{at: t}
}

// Disassemble lists a program one instruction per line, with absolute jump
// targets and named seccomp_data fields, for debugging and test failures.
func Disassemble(prog []unix.SockFilter) string {
	var b strings.Builder
	for i, f := range prog {
		fmt.Fprintf(&b, "%4d: %s\n", i, disasm(i, f))
	}
	return b.String()
}

func disasm(i int, f unix.SockFilter) string {
	jmp := map[uint16]string{unix.BPF_JEQ: "jeq", unix.BPF_JGT: "jgt", unix.BPF_JGE: "jge", unix.BPF_JSET: "jset"}
	switch f.Code {
	case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
		return fmt.Sprintf("ld [%d]%s", f.K, fieldName(f.K))
	case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
		return fmt.Sprintf("and #%#x", f.K)
	case unix.BPF_JMP | unix.BPF_JA:
		return fmt.Sprintf("ja %d", i+1+int(f.K))
	case unix.BPF_RET | unix.BPF_K:
		return "ret " + Action(f.K).String()
	}
	if f.Code&0x07 == unix.BPF_JMP && f.Code&0x08 == unix.BPF_K {
		if op, ok := jmp[f.Code&0xf0]; ok {
			return fmt.Sprintf("%s #%#x, %d, %d", op, f.K, i+1+int(f.Jt), i+1+int(f.Jf))
		}
	}
	return fmt.Sprintf("code=%#x jt=%d jf=%d k=%#x", f.Code, f.Jt, f.Jf, f.K)
}

// fieldName annotates a load from struct seccomp_data (little-endian).
func fieldName(off uint32) string {
	switch {
	case off == offNr:
		return " ; nr"
	case off == offArch:
		return " ; arch"
	case off >= offArgs && off < offArgs+8*maxArgs:
		half := "lo"
		if (off-offArgs)%8 == 4 {
			half = "hi"
		}
		return fmt.Sprintf(" ; args[%d].%s", (off-offArgs)/8, half)
	}
	return ""
}
