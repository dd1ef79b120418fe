package escape

import (
	"fmt"
	"strings"
	"testing"
)

// The command runs with no_new_privs and a seccomp filter, with no capability
// at all as a non-root ID; the calls of the deny list answer EPERM (clone3
// ENOSYS, so that libc falls back to clone, whose flags the filter sees),
// also for root inside with every capability of its namespace; and a nested
// user namespace is refused.
func TestPrivileges(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		st := must(t, m.with("--", escapee, "status")...)
		want := map[string][]string{"NoNewPrivs": {"1"}, "Seccomp": {"2"}}
		if m.name == defaultMode.name {
			for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
				want[c] = []string{"0000000000000000"}
			}
		}
		expect(t, st, m.name+": ", want)
		var eff uint64
		if _, err := fmt.Sscanf(st.get("CapEff"), "%x", &eff); err != nil || eff&(1<<19) != 0 {
			t.Errorf("%s: CapEff %s holds CAP_SYS_PTRACE (bit 19), which opens init and fuse-overlayfs to the command", m.name, st.get("CapEff"))
		}

		r := must(t, m.with("--", escapee, "syscalls")...)
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			name, got, _ := strings.Cut(l, " ")
			want := "EPERM"
			if name == "clone3" {
				want = "ENOSYS"
			}
			if got != want {
				t.Errorf("%s: %s gave %s, want %s", m.name, name, got, want)
			}
			n++
		}
		if n < 20 {
			t.Errorf("%s: escapee tried %d calls, want them all:\n%s", m.name, n, r)
		}

		u := sandbox(t, m.with("--", "unshare", "-U", "true")...)
		if u.code == 0 || !strings.Contains(u.stderr, "Operation not permitted") {
			t.Errorf("%s: unshare -U: want a refusal (EPERM), got %s", m.name, u)
		}
	}, defaultMode, rootAll)
}

// CAP_SYS_PTRACE is never given, not even by name: with it the command could
// trace init and fuse-overlayfs, which hold every capability of the
// sandbox's user namespace and no seccomp filter.
func TestNoSysPtrace(t *testing.T) {
	requires(t, UserNS)
	guard(t)
	for _, c := range []string{"SYS_PTRACE", "cap_sys_ptrace"} {
		r := sandbox(t, "--uid", "0", "--cap-add", c, "--", escapee, "status")
		if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("--cap-add %s: want a one-line refusal, exit 125, got %s", c, r)
		}
	}
}
