package seccomp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzParseProfile: ParseProfile never panics, its errors are one line,
// and what it accepts compiles to a program the kernel would load and
// survives a trip through Spec.
func FuzzParseProfile(f *testing.F) {
	def, err := json.Marshal(Default(Options{}).Spec())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		dockerStyle, string(def), `{}`, `{"defaultAction":"SCMP_ACT_ALLOW"}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":3,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_TRACE","defaultErrnoRet":65535,"syscalls":[{"name":"write","action":"SCMP_ACT_KILL","excludes":{"minKernel":"1.0"}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		prog := mustCompile(t, p)
		spec, err := json.Marshal(p.Spec())
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProfile(spec)
		if err != nil {
			t.Fatalf("ParseProfile(Spec()): %v\n%s", err, spec)
		}
		if !slices.Equal(mustCompile(t, back), prog) {
			t.Fatalf("Spec round trip changed the program:\n%s", spec)
		}
	})
}
