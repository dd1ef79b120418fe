package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"sandbox/profile"
)

func TestCheckLine(t *testing.T) {
	for _, c := range []struct {
		r    checkResult
		want string
	}{
		{checkResult{"userns", statusOK, "works", ""}, "ok    userns     works"},
		{checkResult{"fuse", statusFail, "open /dev/fuse: permission denied", "sudo chmod 0666 /dev/fuse"},
			"FAIL  fuse       open /dev/fuse: permission denied; fix: sudo chmod 0666 /dev/fuse"},
		{checkResult{"network", statusWarn, "two\nlines", ""}, "warn  network    two; lines"},
	} {
		if got := c.r.line(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// The checks run at once, and come back in list order.
func TestRunChecksParallel(t *testing.T) {
	var list []namedCheck
	for i := range 5 {
		list = append(list, namedCheck{fmt.Sprint("c", i), func(context.Context, *checkEnv) checkResult {
			time.Sleep(time.Duration(5-i) * 40 * time.Millisecond)
			return checkOK(fmt.Sprint(i))
		}})
	}
	start := time.Now()
	res := runChecks(context.Background(), &checkEnv{}, list)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("5 checks of up to 200 ms took %v: not in parallel", d)
	}
	for i, r := range res {
		if r.Name != fmt.Sprint("c", i) || r.Found != fmt.Sprint(i) || r.Status != statusOK {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}

func TestCheckExitAndJSON(t *testing.T) {
	res := []checkResult{
		{"userns", statusOK, "x", ""},
		{"fuse", statusFail, "y", "z"},
		{runName, statusOK, "works", ""},
	}
	if checkExit(res) != 0 {
		t.Error("a FAIL line other than run made the exit status 1")
	}
	res[2].Status = statusFail
	if checkExit(res) != 1 {
		t.Error("a failed run gave exit status 0")
	}
	if checkExit(res[:2]) != 1 {
		t.Error("no run line gave exit status 0")
	}
	var buf bytes.Buffer
	if err := printChecks(&buf, res, true); err != nil {
		t.Fatal(err)
	}
	var back []map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, buf.String())
	}
	if len(back) != 3 || back[1]["name"] != "fuse" || back[1]["status"] != "FAIL" || back[1]["found"] != "y" || back[1]["fix"] != "z" {
		t.Errorf("--json: %v", back)
	}
	buf.Reset()
	_ = printChecks(&buf, res, false)
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Errorf("text output: %d lines for 3 results:\n%s", n, buf.String())
	}
}

// usernsBlocker names the knob that is set against user namespaces.
func TestCheckUsernsBlocker(t *testing.T) {
	for _, c := range []struct {
		files     map[string]string
		err       error
		want, fix string
	}{
		{map[string]string{"kernel/unprivileged_userns_clone": "0\n", "user/max_user_namespaces": "100"}, unix.EPERM,
			"kernel.unprivileged_userns_clone = 0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"},
		{map[string]string{"user/max_user_namespaces": "0"}, unix.EPERM,
			"user.max_user_namespaces = 0", "sudo sysctl -w user.max_user_namespaces=28633"},
		{map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1", "user/max_user_namespaces": "100"}, unix.EACCES,
			"apparmor_restrict_unprivileged_userns = 1", "userns,"},
		{map[string]string{"user/max_user_namespaces": "5"}, unix.ENOSPC,
			"user.max_user_namespaces = 5 is reached", "sudo sysctl -w user.max_user_namespaces="},
	} {
		dir := t.TempDir()
		for name, v := range c.files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		found, fix := usernsBlocker(&checkEnv{sysctl: dir}, fmt.Errorf("fork/exec /bin/true: %w", c.err))
		if !strings.Contains(found, c.want) || !strings.Contains(fix, c.fix) {
			t.Errorf("%v with %v:\n found %q (want %q)\n fix %q (want %q)", c.err, c.files, found, c.want, fix, c.fix)
		}
	}
}

func TestCheckFuseDevice(t *testing.T) {
	missing := &checkEnv{devFuse: filepath.Join(t.TempDir(), "fuse")}
	r := checkFuse(context.Background(), missing)
	if r.Status != statusFail || r.Fix != "sudo modprobe fuse" {
		t.Errorf("no device: %+v", r)
	}
	// A directory cannot be opened for writing: the open fails as a 0600
	// device does for a user.
	unopenable := &checkEnv{devFuse: t.TempDir()}
	r = checkFuse(context.Background(), unopenable)
	if r.Status != statusFail || !strings.Contains(r.Fix, "chmod 0666") || !strings.Contains(r.Found, "mode 0") {
		t.Errorf("unopenable device: %+v", r)
	}
}

func TestCheckDataDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	env := &checkEnv{Deps: testDeps(t)}
	if r := checkDataDir(context.Background(), env); r.Status == statusFail || !strings.Contains(r.Found, dir+"/sandbox is writable") {
		t.Errorf("writable: %+v", r)
	}
	if os.Getuid() == 0 {
		t.Skip("root writes to read-only directories")
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_DATA_HOME", ro)
	// A warning where plain runs keep their layers in memory (Linux 6.6+),
	// a failure where every run needs the directory.
	for mem, want := range map[bool]string{true: statusWarn, false: statusFail} {
		env.MemLayers = func() bool { return mem }
		if r := checkDataDir(context.Background(), env); r.Status != want || !strings.Contains(r.Fix, "XDG_DATA_HOME") {
			t.Errorf("read-only, layers in memory %v: %+v", mem, r)
		}
	}
}

// testRun stands in for main's RunCmd: a memory flag whose Validate refuses
// a bad size.
type testRun struct {
	Memory string   `help:"Memory limit."`
	Cmd    []string `arg:"" passthrough:""`
}

func (r *testRun) Validate() error {
	if strings.HasSuffix(r.Memory, "X") {
		return fmt.Errorf("--memory parse size %q", r.Memory)
	}
	return nil
}

func testDeps(t *testing.T) Deps {
	return Deps{
		MemLayers: func() bool { return true },
		Size:      func(n uint64) string { return fmt.Sprintf("%dB", n) },
		Grammar: func() (*kong.Kong, func(), error) {
			cli := &struct {
				Run testRun `cmd:""`
			}{}
			k, err := kong.New(cli, kong.Name("sandbox"), kong.Exit(func(int) { t.Error("kong exits") }))
			return k, func() { cli.Run = testRun{} }, err
		},
	}
}

// writeConfig writes a config file and points SANDBOX_CONFIG at it.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profile.Env, path)
	return path
}

func TestCheckConfig(t *testing.T) {
	env := &checkEnv{Deps: testDeps(t)}
	writeConfig(t, "[defaults]\nmemory = \"8G\"\n[profile.build]\nmemory = \"4G\"\n[profile.offline]\n")
	if r := checkConfig(context.Background(), env); r.Status != statusOK || !strings.Contains(r.Found, "2 profiles (build, offline) and [defaults]") {
		t.Errorf("good file: %+v", r)
	}
	path := writeConfig(t, "[defaults]\nmemroy = \"1G\"\n")
	if r := checkConfig(context.Background(), env); r.Status != statusFail || !strings.Contains(r.Found, path+":2:") {
		t.Errorf("bad file: %+v", r)
	}
	writeConfig(t, "[profile.p]\nmemory = \"1X\"\n")
	if r := checkConfig(context.Background(), env); r.Status != statusWarn || !strings.Contains(r.Found, ":2: [profile.p] memory") {
		t.Errorf("bad profile: %+v", r)
	}
}

func TestCheckSubIDFix(t *testing.T) {
	fix := subIDFix("alice")
	if !strings.HasPrefix(fix, "sudo usermod --add-subuids ") || !strings.Contains(fix, `"alice:`) || !strings.Contains(fix, ":65536\"") {
		t.Errorf("fix %q", fix)
	}
}

func TestCheckRunResultFix(t *testing.T) {
	for _, c := range []struct{ stderr, want string }{
		{"--net pasta: pasta not found; fix: apt install passt", "apt install passt"},
		{"cgroup: x; fix (as root): mkdir y", "(as root) mkdir y"},
		{"write uid map: run /usr/bin/newuidmap: exit status 1; to fix, add \"a:1:2\" to /etc/subuid", "add \"a:1:2\" to /etc/subuid"},
		{"mount: something odd", "see the other FAIL lines"},
	} {
		if got := (runResult{code: 125, stderr: c.stderr}).fix(); got != c.want {
			t.Errorf("%q: fix %q, want %q", c.stderr, got, c.want)
		}
	}
	if got := cleanStderr("sandbox: note: using a single-ID map\nsandbox: mount: boom; hint: x: y (see `sandbox check`)\n"); got != "mount: boom" {
		t.Errorf("cleanStderr: %q", got)
	}
}

func TestCheckSplitAdvice(t *testing.T) {
	what, fix := splitAdvice("the host lacks memory; fix (as root): boot with x")
	if what != "the host lacks memory" || fix != "(as root) boot with x" {
		t.Errorf("%q %q", what, fix)
	}
	if got := limitFlags([]string{"memory", "pids"}); got != "--memory, --pids are" {
		t.Errorf("limitFlags: %q", got)
	}
}
