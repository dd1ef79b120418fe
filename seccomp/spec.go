package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// FromSpec converts the seccomp section of an OCI runtime config to a
// Policy for the native architecture. Errors name the field, like
// `syscalls[3].names[1]: unknown syscall "foo"`.
//
// Differences from runc and crun, each chosen to fail loudly rather than to
// filter differently:
//   - flags, listenerPath and SCMP_ACT_NOTIFY are refused: the sandbox
//     installs the filter itself and runs no seccomp agent;
//   - errnoRet is refused on actions other than SCMP_ACT_ERRNO and
//     SCMP_ACT_TRACE.
//
// Like runc, an entry that tests one argument more than once means that any
// one of its tests suffices, those on other arguments included (see
// splitArgs); a syscall name that exists only on other architectures is
// skipped (Docker's profile names them all in one list), SCMP_ACT_ERRNO
// without errnoRet means EPERM, and SCMP_ACT_KILL kills the thread.
// SCMP_ACT_TRACE is compiled as such: with no tracer, which is the usual
// case, the call fails with ENOSYS. Other architectures listed in
// architectures are accepted, but only the native one is compiled; their
// calls kill the process.
func FromSpec(s *specs.LinuxSeccomp) (*Policy, error) {
	if s == nil {
		return nil, errors.New("seccomp: missing")
	}
	entries := make([]entry, len(s.Syscalls))
	for i, sc := range s.Syscalls {
		entries[i] = entry{path: fmt.Sprintf("syscalls[%d]", i), namesField: "names", sc: sc}
	}
	return convert(s, entries)
}

// entry is one syscalls[] element with where it came from, since Docker's
// includes and excludes may drop some before conversion.
type entry struct {
	path       string // "syscalls[3]"
	namesField string // "names", or Docker's older "name"
	sc         specs.LinuxSyscall
}

func convert(s *specs.LinuxSeccomp, entries []entry) (*Policy, error) {
	if s.DefaultAction == "" {
		return nil, errors.New("defaultAction: missing")
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet, "defaultAction", "defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	for i, a := range s.Architectures {
		if !knownArch(a) {
			return nil, fmt.Errorf("architectures[%d]: unknown architecture %q", i, a)
		}
	}
	if len(s.Flags) > 0 {
		return nil, errors.New("flags: not supported (the sandbox installs the filter itself)")
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return nil, errors.New("listenerPath: seccomp notification is not supported")
	}
	t := newSysTable()
	p := &Policy{DefaultAction: def, Arch: nativeArch}
	for _, e := range entries {
		r, err := rule(t, e)
		if err != nil {
			return nil, err
		}
		if len(r.Syscalls) > 0 {
			p.Rules = append(p.Rules, splitArgs(r)...)
		}
	}
	// What we accept compiles: the one limit left is the kernel's 4096
	// instructions, which a few hundred argument tests can reach.
	if _, err := Compile(p); err != nil {
		return nil, err
	}
	return p, nil
}

func rule(t *sysTable, e entry) (Rule, error) {
	var r Rule
	act, err := action(e.sc.Action, e.sc.ErrnoRet, e.path+".action", e.path+".errnoRet")
	if err != nil {
		return r, err
	}
	r.Action = act
	if len(e.sc.Names) == 0 {
		return r, fmt.Errorf("%s.%s: missing", e.path, e.namesField)
	}
	for j, n := range e.sc.Names {
		nr, ok := t.number(n)
		switch {
		case ok:
			r.Syscalls = append(r.Syscalls, nr)
		case !knownSyscall(n):
			field := fmt.Sprintf("%s.names[%d]", e.path, j)
			if e.namesField != "names" {
				field = e.path + "." + e.namesField
			}
			return r, fmt.Errorf("%s: unknown syscall %q", field, n)
		}
	}
	for j, a := range e.sc.Args {
		path := fmt.Sprintf("%s.args[%d]", e.path, j)
		if a.Index >= maxArgs {
			return r, fmt.Errorf("%s.index: %d is out of range (0-%d)", path, a.Index, maxArgs-1)
		}
		op, err := operator(a.Op)
		if err != nil {
			return r, fmt.Errorf("%s.op: %w", path, err)
		}
		r.Args = append(r.Args, Arg{Index: a.Index, Op: op, Value: a.Value, ValueTwo: a.ValueTwo})
	}
	return r, nil
}

// splitArgs gives an entry's tests the meaning runc gives them, for runc
// compatibility (profiles are written for runc, and runtime-tools' own
// tests OR personality(2)'s argument 0 this way): when no argument is
// tested twice, all tests must hold, one rule; when one is, runc adds each
// test as a rule of its own to libseccomp, so any one test suffices, even
// one on another argument (no cross product: {a0==1, a0==2, a1==3} is
// a0==1 || a0==2 || a1==3). Rules with the same action tried in order are
// that OR here.
func splitArgs(r Rule) []Rule {
	var seen [maxArgs]bool
	twice := false
	for _, a := range r.Args {
		twice = twice || seen[a.Index]
		seen[a.Index] = true
	}
	if !twice {
		return []Rule{r}
	}
	rules := make([]Rule, len(r.Args))
	for i, a := range r.Args {
		rules[i] = Rule{Syscalls: r.Syscalls, Action: r.Action, Args: []Arg{a}}
	}
	return rules
}

func action(a specs.LinuxSeccompAction, errnoRet *uint, path, errnoPath string) (Action, error) {
	if errnoRet != nil && a != specs.ActErrno && a != specs.ActTrace {
		return 0, fmt.Errorf("%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE", errnoPath)
	}
	data := uint(unix.EPERM)
	if errnoRet != nil {
		data = *errnoRet
	}
	switch a {
	case specs.ActAllow:
		return Allow, nil
	case specs.ActKillProcess:
		return KillProcess, nil
	case specs.ActKill, specs.ActKillThread:
		return KillThread, nil
	case specs.ActTrap:
		return Trap, nil
	case specs.ActLog:
		return Log, nil
	case specs.ActErrno:
		if data > maxErrno {
			return 0, fmt.Errorf("%s: %d is out of range (0-%d)", errnoPath, data, maxErrno)
		}
		return Errno(syscall.Errno(data)), nil
	case specs.ActTrace:
		if data > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("%s: %d is out of range (0-%d)", errnoPath, data, unix.SECCOMP_RET_DATA)
		}
		return Trace(uint16(data)), nil
	case specs.ActNotify:
		return 0, fmt.Errorf("%s: SCMP_ACT_NOTIFY is not supported (the sandbox runs no seccomp agent)", path)
	case "":
		return 0, fmt.Errorf("%s: missing", path)
	}
	return 0, fmt.Errorf("%s: unknown action %q", path, a)
}

func operator(o specs.LinuxSeccompOperator) (Op, error) {
	if o == "" {
		return 0, errors.New("missing")
	}
	for op := OpEqual; op <= OpMaskedEqual; op++ {
		if string(o) == op.String() {
			return op, nil
		}
	}
	return 0, fmt.Errorf("unknown operator %q", o)
}

func knownArch(a specs.Arch) bool {
	return a == "SCMP_ARCH_NATIVE" || slices.Contains([]specs.Arch{
		specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB,
	}, a)
}

// Spec writes p as an OCI seccomp section, one syscalls entry per rule in
// order, so `json.MarshalIndent(Default(opt).Spec(), "", "  ")` prints the
// default policy as a profile that ParseProfile reads back.
//
// Numbers without a name on the native architecture (or any number, for a
// policy of another architecture) are written "#nr", which profile parsers
// reject rather than skip. A rule testing one argument twice is written as
// is; ParseProfile, like runc, reads it back as alternatives, any one test
// sufficing (see splitArgs), so such a policy does not round-trip. Default
// has none.
func (p *Policy) Spec() *specs.LinuxSeccomp {
	arch := p.arch()
	s := &specs.LinuxSeccomp{Architectures: []specs.Arch{specs.Arch(arch.String())}}
	s.DefaultAction, s.DefaultErrnoRet = p.DefaultAction.spec()
	t := &sysTable{}
	if arch == nativeArch {
		t = newSysTable()
	}
	for _, r := range p.Rules {
		sc := specs.LinuxSyscall{Names: make([]string, len(r.Syscalls))}
		for i, nr := range r.Syscalls {
			sc.Names[i] = t.name(nr)
		}
		sc.Action, sc.ErrnoRet = r.Action.spec()
		for _, a := range r.Args {
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{
				Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo,
				Op: specs.LinuxSeccompOperator(a.Op.String()),
			})
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

// spec returns the OCI action, and its errnoRet where one applies.
func (a Action) spec() (specs.LinuxSeccompAction, *uint) {
	data := uint(a.data())
	switch a.kind() {
	case unix.SECCOMP_RET_ERRNO:
		return specs.ActErrno, &data
	case unix.SECCOMP_RET_TRACE:
		return specs.ActTrace, &data
	}
	switch a {
	case Allow:
		return specs.ActAllow, nil
	case KillProcess:
		return specs.ActKillProcess, nil
	case KillThread:
		return specs.ActKillThread, nil
	case Trap:
		return specs.ActTrap, nil
	case Log:
		return specs.ActLog, nil
	}
	return specs.LinuxSeccompAction(a.String()), nil
}
