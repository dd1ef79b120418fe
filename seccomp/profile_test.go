package seccomp

import (
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerStyle uses Docker's extensions: archMap, comment, includes and
// excludes, name, and names of other architectures' syscalls.
const dockerStyle = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 1,
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
	],
	"syscalls": [
		{"names": ["read", "write", "exit_group", "getpid", "_llseek", "fstat64", "breakpoint"], "action": "SCMP_ACT_ALLOW", "comment": ""},
		{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
		{"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "999.0"}},
		{"names": ["mount", "unshare"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
		 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
		 "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
		{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
		{"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
		{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64", "arm64"]}},
		{"name": "socket", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
		{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
		{"names": ["getuid"], "action": "SCMP_ACT_TRACE"},
		{"names": ["getgid"], "action": "SCMP_ACT_KILL"},
		{"names": ["getegid"], "action": "SCMP_ACT_LOG"}
	]
}`

func TestParseDockerStyle(t *testing.T) {
	p, err := ParseProfile([]byte(dockerStyle))
	if err != nil {
		t.Fatal(err)
	}
	prog := mustCompile(t, p)
	eperm := Errno(unix.EPERM)
	for _, c := range []struct {
		name string
		args []uint64
		want Action
	}{
		{"read", nil, Allow},
		{"getpid", nil, Allow},
		{"ptrace", nil, Allow},  // minKernel 4.8 holds
		{"getppid", nil, eperm}, // minKernel 999.0 does not
		{"mount", nil, eperm},   // no capabilities
		{"unshare", nil, eperm}, // no capabilities
		{"clone", []uint64{0x11}, Allow},
		{"clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{"clone3", nil, Errno(unix.ENOSYS)},
		{"socket", []uint64{unix.AF_INET}, Allow},
		{"socket", []uint64{unix.AF_VSOCK}, eperm},
		{"uname", nil, Errno(unix.EACCES)},
		{"getuid", nil, Trace(uint16(unix.EPERM))},
		{"getgid", nil, KillThread},
		{"getegid", nil, Log},
		{"openat", nil, eperm},
	} {
		if got, _ := mustRun(t, prog, nativeCall(t, c.name, c.args...)); got != c.want {
			t.Errorf("%s(%#x): got %v, want %v", c.name, c.args, got, c.want)
		}
	}
	if nativeArch == ArchX86_64 {
		if got, _ := mustRun(t, prog, nativeCall(t, "arch_prctl")); got != Allow {
			t.Errorf("arch_prctl: got %v, want ALLOW (includes amd64)", got)
		}
		if got, _ := mustRun(t, prog, nativeCall(t, "kill")); got != eperm {
			t.Errorf("kill: got %v, want EPERM (excludes amd64)", got)
		}
	}
}

func TestParseOCI(t *testing.T) {
	p, err := ParseProfile([]byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
		"syscalls": [
			{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
			{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
			{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0,
			 "args": [{"index": 2, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_GE"},
			          {"index": 1, "value": 100, "op": "SCMP_CMP_LT"}]}
		]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	prog := mustCompile(t, p)
	for _, c := range []struct {
		name string
		args []uint64
		want Action
	}{
		{"getpid", nil, Errno(unix.EPERM)},
		{"getppid", nil, KillProcess},
		{"dup3", []uint64{0, 99, 1}, Errno(0)},
		{"dup3", []uint64{0, 100, 1}, Allow},
		{"dup3", []uint64{0, 99, 0}, Allow},
		{"dup3", []uint64{0, 99 | 1<<32, 1}, Allow},
	} {
		if got, _ := mustRun(t, prog, nativeCall(t, c.name, c.args...)); got != c.want {
			t.Errorf("%s(%#x): got %v, want %v", c.name, c.args, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{``, "profile is empty"},
		{`{"defaultAction": "SCMP_ACT_ALLOW",}`, "line 1, column 36: invalid character '}'"},
		{"{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n  \"syscalls\": []}", "line 3, column 3: invalid character '\"' after object key:value pair"},
		{`{"defaultAction": "SCMP_ACT_ALLOW"`, "line 1, column 35: unexpected end of JSON"},
		{`{"defaultAction": "SCMP_ACT_ALLOW"} {}`, "line 1, column 37: unexpected data after the profile"},
		{`[]`, "profile: expected an object, found an array (line 1, column 1)"},
		{`{}`, "defaultAction: missing"},
		{`{"defaultAction": "SCMP_ACT_BLAH"}`, `defaultAction: unknown action "SCMP_ACT_BLAH"`},
		{`{"defaultaction": "SCMP_ACT_ALLOW"}`, `profile: unknown field "defaultaction" (line 1, column 2)`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "defaultAction": "SCMP_ACT_ERRNO"}`, `profile: duplicate field "defaultAction"`},
		{`{"defaultAction": 1}`, "defaultAction: expected a string, found a number (line 1, column 19)"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}`, "defaultErrnoRet: only valid with SCMP_ACT_ERRNO"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096}`, "defaultErrnoRet: 4096 is out of range (0-4095)"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}`, "defaultErrnoRet: -1 is not an unsigned 64-bit integer"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EWHAT"}`, `defaultErrno: unknown errno "EWHAT"`},
		{`{"defaultAction": "SCMP_ACT_NOTIFY"}`, "defaultAction: SCMP_ACT_NOTIFY is not supported"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}`, "flags: not supported"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x"}`, "listenerPath: seccomp notification is not supported"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}`, `architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["x"]}]}`, `archMap[0].subArchitectures[0]: unknown architecture "x"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BLAH"}]}`, `syscalls[0].action: unknown action "SCMP_ACT_BLAH"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}`, "syscalls[0].action: missing"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].names: missing"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{}, {}, {}, {"names": ["read", "foo"], "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].action: missing"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read", "foo"], "action": "SCMP_ACT_ALLOW"}]}`, `syscalls[3].names[1]: unknown syscall "foo"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "foo", "action": "SCMP_ACT_ALLOW"}]}`, `syscalls[0].name: unknown syscall "foo"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].name: give name or names, not both"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"nmaes": ["read"], "action": "SCMP_ACT_ALLOW"}]}`, `syscalls[0]: unknown field "nmaes" (line 1, column 51)`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].names: expected an array, found a string"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].names[1]: expected a string, found a number"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}`, "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "errnoRet": 2}]}`, "syscalls[0].errno: EPERM is 1, but errnoRet says 2; give one, or the same"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS", "defaultErrnoRet": 1}`, "defaultErrno: ENOSYS is 38, but defaultErrnoRet says 1; give one, or the same"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0].args[0].index: 6 is out of range (0-5)"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1}]}]}`, "syscalls[0].args[0].op: missing"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}`, `syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1.5, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0].args[0].value: 1.5 is not an unsigned 64-bit integer"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18446744073709551616, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0].args[0].value: 18446744073709551616 is not an unsigned 64-bit integer"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}, {"index": 0, "value": 2, "op": "SCMP_CMP_XX"}]}]}`, `syscalls[0].args[1].op: unknown operator "SCMP_CMP_XX"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "five"}}]}`, `syscalls[0].includes.minKernel: "five" is not a kernel version`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["SYS_ADMIN"]}}]}`, `syscalls[0].excludes.caps[0]: "SYS_ADMIN" is not a capability name`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"kernel": "5.1"}}]}`, `syscalls[0].includes: unknown field "kernel"`},
	} {
		_, err := ParseProfile([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProfile(%s):\n got %v\nwant %q", tc.json, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestFromSpec(t *testing.T) {
	one := uint(5)
	p, err := FromSpec(&specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &one,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "stat64", "write"}, Action: specs.ActAllow},
			{Names: []string{"s390_sthyi"}, Action: specs.ActAllow}, // no native name: dropped
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 1 || len(p.Rules[0].Syscalls) != 2 || p.DefaultAction != Errno(5) {
		t.Errorf("FromSpec: got %+v", p)
	}
	if _, err := FromSpec(nil); err == nil {
		t.Error("FromSpec(nil): no error")
	}
	_, err = FromSpec(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read"}, Action: specs.ActAllow}, {Names: []string{"bogus"}, Action: specs.ActAllow},
	}})
	if want := `syscalls[1].names[0]: unknown syscall "bogus"`; err == nil || err.Error() != want {
		t.Errorf("FromSpec with a bad name: got %v, want %q", err, want)
	}
}

func TestParseTooBig(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [`)
	for i := range 1200 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 5, "op": "SCMP_CMP_LT"}]}`)
	}
	b.WriteString(`]}`)
	_, err := ParseProfile([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("ParseProfile of a huge profile: got %v, want the instruction limit", err)
	}
}

// An errno given both by name and by number, as podman's own profile
// (/usr/share/containers/seccomp.json) gives its default, is read when the
// two agree.
func TestErrnoByNameAndNumber(t *testing.T) {
	p, err := ParseProfile([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS", "defaultErrnoRet": 38,
		"syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "errnoRet": 1}]}`))
	if err != nil {
		t.Fatalf("agreeing errno and errnoRet refused: %v", err)
	}
	if p == nil {
		t.Fatal("no policy")
	}
}
