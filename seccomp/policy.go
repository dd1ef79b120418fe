package seccomp

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is what the filter returns for a system call: a SECCOMP_RET_*
// action in the high 16 bits and its data (the errno for Errno) in the low
// 16, exactly as the kernel reads it (seccomp(2)).
type Action uint32

// The actions without data. Build the others with Errno and Trace.
const (
	// Allow runs the system call.
	Allow Action = unix.SECCOMP_RET_ALLOW
	// KillProcess kills the whole process with SIGSYS (core dump).
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	// KillThread kills only the calling thread (libseccomp's SCMP_ACT_KILL).
	KillThread Action = unix.SECCOMP_RET_KILL_THREAD
	// Trap sends SIGSYS to the thread, which may handle it.
	Trap Action = unix.SECCOMP_RET_TRAP
	// Log runs the system call and logs it to the audit log.
	Log Action = unix.SECCOMP_RET_LOG
)

// maxErrno is the largest errno the kernel returns as such (MAX_ERRNO);
// it clamps larger data silently, so we refuse it instead.
const maxErrno = 4095

// Errno fails the system call with e, without running it.
func Errno(e syscall.Errno) Action {
	if e > unix.SECCOMP_RET_DATA {
		e = unix.SECCOMP_RET_DATA // Out of range: validate refuses it.
	}
	return Action(unix.SECCOMP_RET_ERRNO | uint32(e))
}

// Trace notifies a ptrace(2) tracer that set PTRACE_O_TRACESECCOMP, passing
// it data. Without a tracer the kernel fails the call with ENOSYS; a tracer
// cannot use it to get around the filter, which runs again after the tracer
// changes the call (Linux 4.8 and later).
func Trace(data uint16) Action {
	return Action(unix.SECCOMP_RET_TRACE | uint32(data))
}

func (a Action) kind() uint32 { return uint32(a) & unix.SECCOMP_RET_ACTION_FULL }
func (a Action) data() uint32 { return uint32(a) & unix.SECCOMP_RET_DATA }

// String names the action like the kernel's audit log: "ALLOW",
// "ERRNO(EPERM)", "KILL_PROCESS".
func (a Action) String() string {
	switch a.kind() {
	case unix.SECCOMP_RET_ERRNO:
		if n := unix.ErrnoName(syscall.Errno(a.data())); n != "" {
			return "ERRNO(" + n + ")"
		}
		return fmt.Sprintf("ERRNO(%d)", a.data())
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", a.data())
	}
	if a.data() == 0 {
		switch a {
		case Allow:
			return "ALLOW"
		case KillProcess:
			return "KILL_PROCESS"
		case KillThread:
			return "KILL_THREAD"
		case Trap:
			return "TRAP"
		case Log:
			return "LOG"
		}
	}
	return fmt.Sprintf("Action(%#x)", uint32(a))
}

func (a Action) validate() error {
	switch a.kind() {
	case unix.SECCOMP_RET_ERRNO:
		if a.data() > maxErrno {
			return fmt.Errorf("errno %d is out of range (0-%d)", a.data(), maxErrno)
		}
		return nil
	case unix.SECCOMP_RET_TRACE:
		return nil
	case unix.SECCOMP_RET_USER_NOTIF:
		return errors.New("user notification needs a seccomp agent, which the sandbox does not run")
	}
	switch a {
	case Allow, KillProcess, KillThread, Trap, Log:
		return nil
	}
	return fmt.Errorf("unknown action %#x", uint32(a))
}

// Op compares a system call argument, as libseccomp's SCMP_CMP_*. All
// comparisons are unsigned and on the full 64 bits.
type Op uint8

// The comparisons. The zero Op is invalid.
const (
	OpEqual        Op = iota + 1 // arg == Value
	OpNotEqual                   // arg != Value
	OpLess                       // arg < Value
	OpLessEqual                  // arg <= Value
	OpGreater                    // arg > Value
	OpGreaterEqual               // arg >= Value
	OpMaskedEqual                // arg & Value == ValueTwo
)

// String returns the OCI name of the operator, e.g. "SCMP_CMP_EQ".
func (o Op) String() string {
	switch o {
	case OpEqual:
		return "SCMP_CMP_EQ"
	case OpNotEqual:
		return "SCMP_CMP_NE"
	case OpLess:
		return "SCMP_CMP_LT"
	case OpLessEqual:
		return "SCMP_CMP_LE"
	case OpGreater:
		return "SCMP_CMP_GT"
	case OpGreaterEqual:
		return "SCMP_CMP_GE"
	case OpMaskedEqual:
		return "SCMP_CMP_MASKED_EQ"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// maxArgs is the number of syscall arguments in struct seccomp_data.
const maxArgs = 6

// Arg is a condition on one system call argument, with the OCI fields.
// For OpMaskedEqual, Value is the mask and ValueTwo the expected result.
//
// The kernel passes every argument as 64 bits, even where the syscall takes
// an int: to test an int or unsigned int argument (ioctl's request,
// personality's persona), use OpMaskedEqual with mask 0xffffffff, because
// the upper half may hold anything (CVE-2019-10063).
type Arg struct {
	Index    uint
	Op       Op
	Value    uint64
	ValueTwo uint64
}

// Rule gives Action to the listed system calls when all Args hold.
type Rule struct {
	Syscalls []uint32 // numbers on the policy's architecture
	Action   Action
	Args     []Arg // all must hold; none means always
}

// Policy is a seccomp filter before compilation.
//
// For each system call the rules naming it are tried in order and the first
// whose Args all hold decides; when none does, DefaultAction applies. (This
// is the order a reader expects. libseccomp instead lets a rule without
// arguments win over rules with them wherever it stands; profiles where the
// two readings differ are rare, and Spec writes our order out.)
type Policy struct {
	DefaultAction Action
	// Arch is the AUDIT_ARCH_* the filter accepts; zero means the native
	// one. Calls from any other architecture kill the process.
	Arch  Arch
	Rules []Rule
}

// Arch is an AUDIT_ARCH_* value, as in seccomp_data.arch.
type Arch uint32

// The architectures the compiler supports (both little-endian).
const (
	ArchX86_64  Arch = unix.AUDIT_ARCH_X86_64
	ArchAARCH64 Arch = unix.AUDIT_ARCH_AARCH64
)

// String returns the libseccomp name, e.g. "SCMP_ARCH_X86_64".
func (a Arch) String() string {
	switch a {
	case ArchX86_64:
		return "SCMP_ARCH_X86_64"
	case ArchAARCH64:
		return "SCMP_ARCH_AARCH64"
	}
	return fmt.Sprintf("Arch(%#x)", uint32(a))
}

// arch returns the architecture the policy compiles for.
func (p *Policy) arch() Arch {
	if p.Arch == 0 {
		return nativeArch
	}
	return p.Arch
}

// validate checks what the compiler relies on and names the faulty field.
func (p *Policy) validate(arch Arch) error {
	if arch != ArchX86_64 && arch != ArchAARCH64 {
		return fmt.Errorf("arch: unsupported architecture %v", arch)
	}
	if err := p.DefaultAction.validate(); err != nil {
		return fmt.Errorf("default action: %w", err)
	}
	for i, r := range p.Rules {
		if err := r.Action.validate(); err != nil {
			return fmt.Errorf("rules[%d].action: %w", i, err)
		}
		if len(r.Syscalls) == 0 {
			return fmt.Errorf("rules[%d].syscalls: empty", i)
		}
		for _, nr := range r.Syscalls {
			if nr >= x32Bit {
				// Above every real syscall number, and on x86_64 the
				// x32 range, which the filter refuses as a whole.
				return fmt.Errorf("rules[%d].syscalls: %d is out of range", i, nr)
			}
		}
		for j, a := range r.Args {
			if a.Index >= maxArgs {
				return fmt.Errorf("rules[%d].args[%d].index: %d is out of range (0-%d)", i, j, a.Index, maxArgs-1)
			}
			if a.Op < OpEqual || a.Op > OpMaskedEqual {
				return fmt.Errorf("rules[%d].args[%d].op: unknown operator %v", i, j, a.Op)
			}
		}
	}
	return nil
}
