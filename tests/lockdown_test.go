package tests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func probeResults(t *testing.T, args ...string) map[string]string {
	t.Helper()
	r := sandbox(t, "", nil, append(args, "--", probe, "syscalls")...)
	if r.code != 0 {
		t.Fatalf("probe: exit %d: %s", r.code, r.stderr)
	}
	out := map[string]string{}
	for _, l := range lines(r.stdout) {
		if f := strings.Fields(l); len(f) == 2 {
			out[f[0]] = f[1]
		}
	}
	return out
}

// Each denied syscall gets the designed errno from the filter, also for root
// inside with every capability of the sandbox's user namespace (so the EPERM
// cannot come from a missing capability).
func TestSeccompDefault(t *testing.T) {
	requires(t, UserNS)
	for _, who := range [][]string{nil, {"--uid", "0", "--cap-add", "ALL"}} {
		got := probeResults(t, who...)
		if len(got) < 30 {
			t.Fatalf("probe printed %d results", len(got))
		}
		for name, e := range got {
			want := "EPERM"
			if name == "clone3" {
				want = "ENOSYS" // libc falls back to clone, whose flags the filter sees
			}
			if e != want {
				t.Errorf("%v: %s gave %s, want %s", who, name, e, want)
			}
		}
	}
	// Unconfined, the same calls reach the kernel: the errors above were the filter's.
	got := probeResults(t, "--uid", "0", "--cap-add", "ALL", "--seccomp", "unconfined")
	for _, name := range []string{"keyctl", "unshare_newuser", "mount", "clone3", "personality_bsd"} {
		if got[name] == "EPERM" || got[name] == "ENOSYS" {
			t.Errorf("--seccomp unconfined: %s still gave %s", name, got[name])
		}
	}
}

func TestNestedUserNamespace(t *testing.T) {
	requires(t, UserNS)
	if r := sandbox(t, "", nil, "--", "unshare", "-U", "true"); r.code == 0 {
		t.Errorf("nested unshare -U worked without --allow-nested")
	}
	if r := sandbox(t, "", nil, "--allow-nested", "--", "unshare", "-U", "true"); r.code != 0 {
		t.Errorf("--allow-nested: unshare -U: exit %d, %s", r.code, r.stderr)
	}
}

func TestCapabilitiesAndNoNewPrivs(t *testing.T) {
	requires(t, UserNS)
	status := func(args ...string) map[string]string {
		out := must(t, append(args, "--", "grep", "-E", "^(Cap|NoNewPrivs|Seccomp:)", "/proc/self/status")...)
		m := map[string]string{}
		for _, l := range lines(out) {
			k, v, _ := strings.Cut(l, ":")
			m[k] = strings.TrimSpace(v)
		}
		return m
	}
	user := status()
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if user[k] != "0000000000000000" {
			t.Errorf("non-root command: %s = %s, want empty", k, user[k])
		}
	}
	if user["NoNewPrivs"] != "1" || user["Seccomp"] != "2" {
		t.Errorf("NoNewPrivs %s, Seccomp %s; want 1 and 2 (filter)", user["NoNewPrivs"], user["Seccomp"])
	}
	root := status("--uid", "0")
	// Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
	// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
	if root["CapBnd"] != "00000000a80425fb" || root["CapEff"] != "00000000a80425fb" || root["CapAmb"] != "0000000000000000" {
		t.Errorf("--uid 0: CapBnd %s CapEff %s CapAmb %s; want a80425fb, a80425fb, 0", root["CapBnd"], root["CapEff"], root["CapAmb"])
	}
	if r := status("--uid", "0", "--cap-drop", "ALL", "--cap-add", "NET_RAW"); r["CapEff"] != "0000000000002000" {
		t.Errorf("--cap-drop ALL --cap-add NET_RAW: CapEff %s", r["CapEff"])
	}
	if r := sandbox(t, "", nil, "--cap-add", "CAP_BOGUS", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "CAP_BOGUS") {
		t.Errorf("unknown capability: exit %d, %q", r.code, r.stderr)
	}
}

func TestTIOCSTIRefused(t *testing.T) {
	requires(t, UserNS)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skipf("requires script(1) to make a terminal: %v", err)
	}
	out, _ := exec.Command(script, "-q", "-e", "-c", bin+" -- "+probe+" tiocsti", "/dev/null").CombinedOutput()
	if !strings.Contains(string(out), "tiocsti EPERM") {
		t.Errorf("TIOCSTI on the terminal: %q, want EPERM", out)
	}
	// Without a terminal on stdin the command has no controlling terminal.
	r := sandbox(t, "", nil, "--", "sh", "-c", "if (exec 3</dev/tty) 2>/dev/null; then echo has-tty; else echo no-tty; fi")
	if strings.TrimSpace(r.stdout) != "no-tty" {
		t.Errorf("without a terminal the command still opened /dev/tty: %q", r.stdout)
	}
}

func TestCustomProfile(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	prof := dir + "/p.json"
	os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirat","mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}`), 0o644)
	r := sandbox(t, dir, nil, "--seccomp", prof, "--", "sh", "-c", "mkdir x 2>&1; touch y && echo touched")
	if !strings.Contains(r.stdout, "Permission denied") || !strings.Contains(r.stdout, "touched") {
		t.Errorf("custom profile: %q %q", r.stdout, r.stderr)
	}
	for _, bad := range []struct{ body, want string }{
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["nosuchcall"],"action":"SCMP_ACT_ERRNO"}]}`, "nosuchcall"},
		{`{"defaultAction":"SCMP_ACT_NOPE"}`, "defaultAction"},
		{`{"defaultAction":`, "p.json"},
	} {
		os.WriteFile(prof, []byte(bad.body), 0o644)
		r := sandbox(t, dir, nil, "--seccomp", prof, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, bad.want) || len(lines(r.stderr)) != 1 {
			t.Errorf("profile %s: exit %d, %q; want 125 naming %q", bad.body, r.code, r.stderr, bad.want)
		}
	}
	out := must(t, "seccomp", "default")
	if !strings.Contains(out, `"defaultAction"`) || !strings.Contains(out, "keyctl") {
		t.Errorf("sandbox seccomp default: %.200s", out)
	}
}
