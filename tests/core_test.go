package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestIDsSubIDMap(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID, NotRoot)
	out := must(t, "--map", "subids", "--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
	l := lines(out)
	if l[0] != fmt.Sprint(os.Getuid()) || l[1] != fmt.Sprint(os.Getgid()) {
		t.Errorf("inside uid/gid = %s/%s, want our own %d/%d", l[0], l[1], os.Getuid(), os.Getgid())
	}
	// Our own ID at our own ID, and the sub-IDs around it: more than one line,
	// and ID 0 exists (mapped to a sub-ID, not to us).
	maps := l[2:]
	if len(maps) < 2 {
		t.Fatalf("uid_map has %d lines, want sub-ID ranges too:\n%s", len(maps), out)
	}
	own := fmt.Sprintf("%d %d 1", os.Getuid(), os.Getuid())
	var sawOwn, sawZero bool
	for _, m := range maps {
		f := strings.Join(strings.Fields(m), " ")
		sawOwn = sawOwn || f == own
		sawZero = sawZero || strings.HasPrefix(f, "0 ")
	}
	if !sawOwn || !sawZero {
		t.Errorf("uid_map lacks %q or a line for ID 0:\n%s", own, strings.Join(maps, "\n"))
	}
}

// --map auto takes sub-IDs only where the run can use other IDs (issue 15):
// a plain non-root run gets a one-line map (no setuid helper on the start-up
// path), root inside, a named sandbox or --cap-add get the sub-ID ranges.
func TestIDsAutoMap(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID, NotRoot)
	count := func(args ...string) int {
		t.Helper()
		out := must(t, append(args, "--", "sh", "-c", "cat /proc/self/uid_map")...)
		return len(lines(out))
	}
	if n := count(); n != 1 {
		t.Errorf("plain run: uid_map has %d lines, want 1 (a single-ID map)", n)
	}
	name := fmt.Sprintf("automap-%d", os.Getpid())
	defer sandbox(t, "", nil, "rm", name)
	for _, args := range [][]string{{"--uid", "0"}, {"--name", name}, {"--cap-add", "CHOWN"}, {"--map", "subids"}} {
		if n := count(args...); n < 2 {
			t.Errorf("%q: uid_map has %d lines, want the sub-ID ranges too", args, n)
		}
	}
}

func TestIDsSingleMap(t *testing.T) {
	requires(t, UserNS, NotRoot)
	out := must(t, "--map", "single", "--", "sh", "-c", "id -u; cat /proc/self/uid_map; cat /proc/self/setgroups")
	l := lines(out)
	if l[0] != fmt.Sprint(os.Getuid()) {
		t.Errorf("inside uid = %s, want %d", l[0], os.Getuid())
	}
	if len(l) != 3 || strings.Join(strings.Fields(l[1]), " ") != fmt.Sprintf("%d %d 1", os.Getuid(), os.Getuid()) {
		t.Errorf("want a one-line uid_map mapping our ID, got:\n%s", out)
	}
	if l[2] != "deny" {
		t.Errorf("setgroups = %q, want deny with a single map", l[2])
	}
}

func TestRootInside(t *testing.T) {
	requires(t, UserNS)
	for _, mode := range []string{"single", "auto"} {
		out := must(t, "--map", mode, "--uid", "0", "--gid", "0", "--", "sh", "-c", "id -u; id -g")
		if strings.Join(lines(out), ",") != "0,0" {
			t.Errorf("--map %s --uid 0 --gid 0: id = %q", mode, out)
		}
	}
}

func TestPIDNamespaceAndInit(t *testing.T) {
	requires(t, UserNS)
	out := must(t, "--", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'")
	l := lines(out)
	if !strings.HasPrefix(l[0], "sandbox-init") {
		t.Errorf("PID 1 is %q, want our init", l[0])
	}
	// init, sh, ls, grep, tr at most: nothing of the host.
	var n int
	fmt.Sscan(l[1], &n)
	if n < 2 || n > 6 {
		t.Errorf("%d processes visible inside, want only the sandbox's own", n)
	}
}

func TestHostname(t *testing.T) {
	requires(t, UserNS)
	host, _ := os.Hostname()
	out := must(t, "--hostname", "inside-test", "--", "sh", "-c", "hostname; hostname changed 2>/dev/null || echo refused; cat /proc/sys/kernel/hostname")
	if l := lines(out); l[0] != "inside-test" {
		t.Errorf("hostname inside = %q, want inside-test", l[0])
	}
	if after, _ := os.Hostname(); after != host {
		t.Errorf("host's hostname changed from %q to %q", host, after)
	}
}

func TestFilesystemView(t *testing.T) {
	requires(t, UserNS)
	home, _ := os.UserHomeDir()
	dir := workdir(t)
	probe := filepath.Join(home, ".sandbox-test-probe")
	// Writes to /etc and $HOME may succeed (copy-on-write) but never reach
	// the host: checked below.
	script := fmt.Sprintf(`
		echo x > /etc/sandbox-test 2>/dev/null
		echo x > %q 2>/dev/null
		echo hello > made-inside || echo cwd-not-writable
		ls -A /tmp | wc -l
		touch /tmp/private && echo tmp-ok
		cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '
	`, probe)
	r := sandbox(t, dir, nil, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	l := lines(r.stdout)
	want := []string{"0", "tmp-ok", "lo"}
	if strings.Join(l, ",") != strings.Join(want, ",") {
		t.Errorf("inside printed %q, want %q (no writes to /etc or $HOME, empty /tmp, only lo)", l, want)
	}
	for _, p := range []string{"/etc/sandbox-test", probe, "/tmp/private"} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s exists on the host", p)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "made-inside"))
	if err != nil {
		t.Fatalf("file written in the current directory is not on the host: %v", err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Errorf("file written inside is owned by %d, want %d", uid, os.Getuid())
	}
}

func TestShareNet(t *testing.T) {
	requires(t, UserNS)
	inside := must(t, "--share-net", "--", "sh", "-c", "tail -n +3 /proc/net/dev | wc -l")
	host, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(lines(string(host))) - 2; strings.TrimSpace(inside) != fmt.Sprint(want) {
		t.Errorf("--share-net sees %s interfaces, host has %d", strings.TrimSpace(inside), want)
	}
}

func TestBindsAndTmpfs(t *testing.T) {
	requires(t, UserNS)
	dir := workdir(t)
	ro, rw := filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	for _, d := range []string{ro, rw} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro-data\n"), 0o644)
	other := workdir(t) // the command runs elsewhere, so dir itself is not bound
	script := `cat /mnt/f; echo x > /mnt/g 2>/dev/null && echo ro-written; echo y > /srv/g && echo rw-ok; ls -A /etc | wc -l`
	r := sandbox(t, other, nil, "--ro", ro+":/mnt", "--rw", rw+":/srv", "--tmpfs", "/etc", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := strings.Join(lines(r.stdout), ","); got != "ro-data,rw-ok,0" {
		t.Errorf("inside printed %q, want ro-data,rw-ok,0", got)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "g")); err != nil || string(b) != "y\n" {
		t.Errorf("--rw write did not reach the host: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "g")); err == nil {
		t.Errorf("--ro bind was writable")
	}
	// A destination that would have to be created on the read-only root is a
	// one-line error naming the way out.
	r = sandbox(t, other, nil, "--ro", ro+":/sys/no-such-dir", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "choose an existing DEST") || len(lines(r.stderr)) != 1 {
		t.Errorf("bind onto a missing DEST under /usr: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEnvironment(t *testing.T) {
	requires(t, UserNS)
	env := []string{"SSH_AUTH_SOCK=/tmp/agent", "DBUS_SESSION_BUS_ADDRESS=unix:path=/x", "DISPLAY=:0", "KEEP_ME=yes"}
	r := sandbox(t, "", env, "--env", "FOO=bar", "--env", "DISPLAY", "--", "sh", "-c",
		`echo "$SSH_AUTH_SOCK|$DBUS_SESSION_BUS_ADDRESS|$DISPLAY|$KEEP_ME|$FOO"`)
	if got := strings.TrimSpace(r.stdout); got != "||:0|yes|bar" {
		t.Errorf("environment inside = %q, want ||:0|yes|bar", got)
	}
	r = sandbox(t, "", env, "--clearenv", "--env", "A=1", "--", "/usr/bin/env")
	if got := strings.TrimSpace(r.stdout); got != "A=1" {
		t.Errorf("--clearenv environment = %q, want A=1", got)
	}
}

func TestChdir(t *testing.T) {
	requires(t, UserNS)
	if got := strings.TrimSpace(must(t, "--chdir", "/usr", "--", "pwd")); got != "/usr" {
		t.Errorf("--chdir /usr: pwd = %q", got)
	}
	dir := workdir(t)
	r := sandbox(t, dir, nil, "--", "pwd")
	if real, _ := filepath.EvalSymlinks(dir); strings.TrimSpace(r.stdout) != real {
		t.Errorf("default directory = %q, want %q", r.stdout, real)
	}
}
