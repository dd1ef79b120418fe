package seccomp

import (
	"fmt"
	"strings"
)

//go:generate go run gen_names.go

// sysEntry is one row of the native syscall table.
type sysEntry struct {
	name string
	nr   uint32
}

// sysTable maps syscall names to numbers and back for the native
// architecture. It is built per call (a few microseconds) rather than kept
// in a package variable.
type sysTable struct {
	byName map[string]uint32
	byNr   map[uint32]string
}

func newSysTable() *sysTable {
	rows := nativeSyscalls()
	t := &sysTable{
		byName: make(map[string]uint32, len(rows)),
		byNr:   make(map[uint32]string, len(rows)),
	}
	for _, r := range rows {
		t.byName[r.name] = r.nr
		t.byNr[r.nr] = r.name
	}
	return t
}

// number returns the native number of the syscall called name.
func (t *sysTable) number(name string) (uint32, bool) {
	nr, ok := t.byName[name]
	return nr, ok
}

// numbers resolves names, leaving out those the native architecture lacks.
func (t *sysTable) numbers(names ...string) []uint32 {
	var nrs []uint32
	for _, n := range names {
		if nr, ok := t.byName[n]; ok {
			nrs = append(nrs, nr)
		}
	}
	return nrs
}

// name returns the native name of syscall nr, or "#nr" when it has none
// (which no profile parser accepts, so the gap shows instead of vanishing).
func (t *sysTable) name(nr uint32) string {
	if n, ok := t.byNr[nr]; ok {
		return n
	}
	return fmt.Sprintf("#%d", nr)
}

// knownSyscall reports whether name is a syscall on some Linux architecture.
func knownSyscall(name string) bool {
	return name != "" && !strings.Contains(name, " ") &&
		strings.Contains(knownSyscalls, " "+name+" ")
}
