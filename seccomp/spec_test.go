package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestArgumentTestedTwice: an entry testing one argument more than once
// means what runc makes of it, any one test sufficing (even one on another
// argument), while tests on distinct arguments must all hold.
func TestArgumentTestedTwice(t *testing.T) {
	nr, ok := newSysTable().number("personality")
	if !ok {
		t.Fatal("no personality on this architecture")
	}
	eperm := Errno(unix.EPERM)
	for _, tc := range []struct {
		name  string
		args  string
		calls map[[2]uint64]Action // personality(a0, a1) -> outcome
	}{
		{
			// runtime-tools' own profile has this shape.
			name: "one argument twice",
			args: `{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}`,
			calls: map[[2]uint64]Action{
				{0, 0}: Allow, {8, 0}: Allow, {0x20000, 0}: eperm, {1, 0}: eperm, {8 | 1<<32, 0}: eperm,
			},
		},
		{
			name: "one argument twice, another once",
			args: `{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}`,
			calls: map[[2]uint64]Action{
				{0, 9}: Allow, {8, 9}: Allow, {5, 3}: Allow, {5, 4}: eperm,
			},
		},
		{
			name: "distinct arguments",
			args: `{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}`,
			calls: map[[2]uint64]Action{
				{1, 2}: Allow, {1, 3}: eperm, {0, 2}: eperm, {0, 0}: eperm,
			},
		},
	} {
		p, err := ParseProfile([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [` + tc.args + `]}]}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		prog := mustCompile(t, p)
		for a, want := range tc.calls {
			d := seccompData{nr: nr, arch: uint32(nativeArch), args: [6]uint64{a[0], a[1]}}
			if got, _ := mustRun(t, prog, d); got != want {
				t.Errorf("%s: personality(%#x, %#x): got %v, want %v\n%s", tc.name, a[0], a[1], got, want, Disassemble(prog))
			}
			if got := reference(p, d); got != want {
				t.Errorf("%s: policy %+v decides personality(%#x, %#x) as %v, want %v", tc.name, p.Rules, a[0], a[1], got, want)
			}
		}
	}
}
