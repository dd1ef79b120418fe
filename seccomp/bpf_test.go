package seccomp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data, as the filter sees a system call.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

// bytes lays d out as the kernel does on a little-endian machine.
func (d seccompData) bytes() [64]byte {
	var b [64]byte
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// verify applies the kernel's static checks for a seccomp program
// (bpf_check_classic and seccomp_check_filter) that our output can fail.
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		return fmt.Errorf("length %d", len(prog))
	}
	for i, f := range prog {
		switch {
		case f.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS:
			if f.K >= 64 || f.K%4 != 0 {
				return fmt.Errorf("%d: load of [%d]", i, f.K)
			}
		case f.Code == unix.BPF_JMP|unix.BPF_JA:
			if uint64(i)+1+uint64(f.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja out of range", i)
			}
		case f.Code&0x07 == unix.BPF_JMP:
			if i+1+int(f.Jt) >= len(prog) || i+1+int(f.Jf) >= len(prog) {
				return fmt.Errorf("%d: jump out of range", i)
			}
		case f.Code == unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, f.Code == unix.BPF_RET|unix.BPF_K:
		default:
			return fmt.Errorf("%d: unexpected instruction %#x", i, f.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		return fmt.Errorf("last instruction %#x is not a return", last.Code)
	}
	return nil
}

// run interprets prog on d like the kernel's classic BPF, for the
// instructions a seccomp filter may use, and returns the filter's result
// and the number of instructions executed.
func run(prog []unix.SockFilter, d seccompData) (Action, int, error) {
	return execute(prog, d, nil)
}

// execute is run, calling onLoad (if not nil) with the offset of each load.
func execute(prog []unix.SockFilter, d seccompData, onLoad func(off uint32)) (Action, int, error) {
	mem := d.bytes()
	var a, x uint32
	for pc, steps := 0, 1; ; pc, steps = pc+1, steps+1 {
		if pc >= len(prog) {
			return 0, steps, fmt.Errorf("fell off the end")
		}
		f := prog[pc]
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if f.K > 60 || f.K%4 != 0 {
				return 0, steps, fmt.Errorf("%d: bad load [%d]", pc, f.K)
			}
			a = binary.LittleEndian.Uint32(mem[f.K:])
			if onLoad != nil {
				onLoad(f.K)
			}
		case unix.BPF_LD | unix.BPF_IMM:
			a = f.K
		case unix.BPF_LDX | unix.BPF_IMM:
			x = f.K
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a = x
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= f.K
		case unix.BPF_ALU | unix.BPF_OR | unix.BPF_K:
			a |= f.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(f.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += branch(a == f.K, f)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += branch(a > f.K, f)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += branch(a >= f.K, f)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += branch(a&f.K != 0, f)
		case unix.BPF_RET | unix.BPF_K:
			return Action(f.K), steps, nil
		default:
			return 0, steps, fmt.Errorf("%d: unknown instruction %#x", pc, f.Code)
		}
	}
}

func branch(cond bool, f unix.SockFilter) int {
	if cond {
		return int(f.Jt)
	}
	return int(f.Jf)
}

// mustRun runs prog and fails the test, with the disassembly, on error.
func mustRun(t *testing.T, prog []unix.SockFilter, d seccompData) (Action, int) {
	t.Helper()
	act, steps, err := run(prog, d)
	if err != nil {
		t.Fatalf("run %+v: %v\n%s", d, err, Disassemble(prog))
	}
	return act, steps
}

func TestInterpreter(t *testing.T) {
	// if nr == 39 && args[0].hi == 7 { return ERRNO(1) } else { return ALLOW }
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 39, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 20},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 7, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	for _, tc := range []struct {
		d    seccompData
		want Action
	}{
		{seccompData{nr: 39, args: [6]uint64{7 << 32}}, Errno(1)},
		{seccompData{nr: 39, args: [6]uint64{7}}, Allow},
		{seccompData{nr: 40, args: [6]uint64{7 << 32}}, Allow},
	} {
		if got, _ := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.d, got, tc.want)
		}
	}
}
