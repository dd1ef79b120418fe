package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestVolumeFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want mountFlag
		err  string
	}{
		{"/src", mountFlag{"--rw", "/src"}, ""},
		{"/src:/dst", mountFlag{"--rw", "/src:/dst"}, ""},
		{"/src:/dst:ro", mountFlag{"--ro", "/src:/dst"}, ""},
		{"/src:ro", mountFlag{"--ro", "/src"}, ""},
		{"/src:/dst:rw", mountFlag{"--rw", "/src:/dst"}, ""},
		{"rel:/dst", mountFlag{"--rw", "rel:/dst"}, ""},
		{"/src:/dst:z", mountFlag{}, "option z: only ro and rw"},
		{"/a:/b:/c:ro", mountFlag{}, "want SRC[:DEST][:ro]"},
		{":/dst", mountFlag{}, "want SRC[:DEST][:ro]"},
	} {
		got, err := volumeFlag(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("-v %s: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("-v %s = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// podman's habits parse as podman means them; -v is no longer --verbose (a
// `-v $PWD:/src` ran "$PWD:/src" as the command).
func TestParsePodmanHabits(t *testing.T) {
	cli, err := parse(t, "-it", "-v", "/a:/b:ro", "-w", "/b", "-u", "0", "--network", "host", "--env-file", "f", "--unsetenv", "X", "--", "sh")
	if err != nil {
		t.Fatal(err)
	}
	r := cli.Run
	if !r.Interactive || !r.TTY || r.Verbose || !reflect.DeepEqual(r.Volume, []string{"/a:/b:ro"}) || r.Chdir != "/b" || r.User != "0" ||
		r.Net != "host" || !reflect.DeepEqual(r.EnvFile, []string{"f"}) || !reflect.DeepEqual(r.Unsetenv, []string{"X"}) ||
		!reflect.DeepEqual(r.Cmd, []string{"sh"}) {
		t.Errorf("parsed %+v", r)
	}
	if cli, err := parse(t, "--workdir", "/w", "--verbose", "--", "true"); err != nil || cli.Run.Chdir != "/w" || !cli.Run.Verbose {
		t.Errorf("--workdir, --verbose: %v %+v", err, cli.Run)
	}
	if _, err := parse(t, "-u", "0", "--uid", "0", "--", "true"); err == nil || !strings.Contains(err.Error(), "give one") {
		t.Errorf("-u with --uid: %v", err)
	}
	if _, err := parse(t, "-v", "/a:/b:Z", "--", "true"); err == nil {
		t.Error("-v with an unknown option accepted")
	}
}

// --uid 0 is root's group too, as podman's --user 0; --gid or -u UID:GID
// says otherwise. -u reads names from the sandbox's root.
func TestApplyUser(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nbob:x:1200:1300::/home/bob:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	for _, c := range []struct {
		uid, gid   int64
		user       string
		wantU, wan int64
	}{
		{0, -1, "", 0, 0},
		{0, 7, "", 0, 7},
		{1000, -1, "", 1000, -1},
		{-1, -1, "", -1, -1},
		{-1, -1, "bob", 1200, 1300},
		{-1, -1, "bob:staff", 1200, 50},
		{-1, -1, "4000", 4000, 0},
		{-1, -1, "4000:4001", 4000, 4001},
	} {
		r := &RunCmd{UID: c.uid, GID: c.gid, User: c.user}
		r.Rootfs = root
		if err := r.applyUser(); err != nil || r.UID != c.wantU || r.GID != c.wan {
			t.Errorf("uid %d gid %d -u %q: %d:%d, %v; want %d:%d", c.uid, c.gid, c.user, r.UID, r.GID, err, c.wantU, c.wan)
		}
	}
	r := &RunCmd{UID: -1, GID: -1, User: "nobody-here"}
	r.Rootfs = root
	if err := r.applyUser(); err == nil || !strings.Contains(err.Error(), "-u nobody-here: no such user") {
		t.Errorf("-u of an unknown name: %v", err)
	}
}

func TestEnvironmentFileAndUnset(t *testing.T) {
	t.Setenv("FROM_HOST", "h")
	t.Setenv("DROP_ME", "d")
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("# comment\n\nA=1\nB=two words\nFROM_HOST\nC=file\n"), 0o644)
	r := &RunCmd{EnvFile: []string{f}, Env: []string{"C=flag"}, Unsetenv: []string{"DROP_ME"}}
	env, err := r.environment()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	if got["A"] != "1" || got["B"] != "two words" || got["FROM_HOST"] != "h" || got["C"] != "flag" {
		t.Errorf("env: %v", got)
	}
	if _, ok := got["DROP_ME"]; ok {
		t.Error("--unsetenv DROP_ME: still set")
	}
	os.WriteFile(f, []byte("A=1\n bad key=2\n"), 0o644)
	if _, err := r.environment(); err == nil || !strings.Contains(err.Error(), f+":2:") {
		t.Errorf("a bad line: %v", err)
	}
	r.EnvFile = []string{filepath.Join(t.TempDir(), "missing")}
	if _, err := r.environment(); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
