package oci

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sandbox/tests/feature"
)

// TestConfigHonoured: what config.json asks of the container is what the
// command finds, each checked from inside.
func TestConfigHonoured(t *testing.T) {
	script := `
touch /x 2>/dev/null && echo root-writable || echo root-ro
touch /tmp/ok && echo tmp-rw
echo host=$(hostname)
echo cwd=$(pwd)
echo foo=$FOO
echo nofile=$(ulimit -n)
grep CapBnd /proc/self/status
echo kcore=$(cat /proc/kcore | wc -c)
echo 1 2>/dev/null >/proc/sys/net/ipv4/ip_forward && echo procsys-rw || echo procsys-ro
mkdir /tmp/d 2>/dev/null && echo mkdir-ok || echo mkdir-denied
echo uid=$(id -u)
`
	b := bundle(t, []string{"sh", "-c", script}, func(cfg map[string]any) {
		p := cfg["process"].(map[string]any)
		p["cwd"] = "/work"
		p["env"] = []string{"PATH=/bin", "FOO=bar"}
		p["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}}
		cfg["linux"].(map[string]any)["seccomp"] = map[string]any{
			"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls":      []map[string]any{{"names": []string{"mkdir", "mkdirat"}, "action": "SCMP_ACT_ERRNO"}},
		}
	})
	r := rt(t, t.TempDir(), "run", "--bundle", b, "cfg")
	if r.code != 0 {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"root-ro", "tmp-rw", "host=oci-test", "cwd=/work", "foo=bar", "nofile=512",
		"CapBnd:\t0000000000000420", // CAP_KILL (5) and CAP_NET_BIND_SERVICE (10)
		"kcore=0", "procsys-ro", "mkdir-denied", "uid=0",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("want %q in the container's output:\n%s", want, r.stdout)
		}
	}
}

// TestCwdInsideRoot: process.cwd is resolved inside the root only: a
// symlink in the rootfs that points to an absolute host path, or climbs
// with .., stays inside (runc CVE-2024-21626's kind).
func TestCwdInsideRoot(t *testing.T) {
	b := bundle(t, []string{"sh", "-c", "pwd; ls /work"}, func(cfg map[string]any) {
		cfg["process"].(map[string]any)["cwd"] = "/../../../../work"
	})
	r := rt(t, t.TempDir(), "run", "--bundle", b, "cwd")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "/work\n") {
		t.Fatalf("run: exit %d, stdout %q, stderr %s; want /work inside the root", r.code, r.stdout, r.stderr)
	}
}

// TestMountSources: a new filesystem shows the config's source in
// mountinfo, as with runc; runtime-tools' runtimetest finds each mount by
// destination, type and source.
func TestMountSources(t *testing.T) {
	b := bundle(t, []string{"cat", "/proc/self/mountinfo"}, func(cfg map[string]any) {
		cfg["mounts"].([]any)[6].(map[string]any)["source"] = "scratch"
	})
	r := rt(t, t.TempDir(), "run", "--bundle", b, "src")
	if r.code != 0 {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got := map[string][]string{} // mount point -> "type source", in order
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if len(f) < 5 || i < 0 || len(f) < i+3 {
			t.Fatalf("mountinfo line %q", line)
		}
		got[f[4]] = append(got[f[4]], f[i+1]+" "+f[i+2])
	}
	for dst, want := range map[string]string{
		"/proc": "proc proc", "/dev": "tmpfs tmpfs", "/dev/pts": "devpts devpts", "/dev/shm": "tmpfs shm",
		"/dev/mqueue": "mqueue mqueue", "/sys": "sysfs sysfs", "/tmp": "tmpfs scratch",
	} {
		if !slices.Contains(got[dst], want) {
			t.Errorf("%s: mountinfo shows %q, want %q among them\n%s", dst, got[dst], want, r.stdout)
		}
	}
}

// TestMapsWithoutRuntimeID: config.json's ID maps may leave out the
// runtime's own IDs (sub-IDs only, as runtime-tools' linux_uid_mappings
// and linux_ns_nopath ask); init then builds the root as the container's
// root, where its own IDs have no owner to give a new file (mkdir failed
// with EOVERFLOW); the runtime keeps its own IDs for the rest.
func TestMapsWithoutRuntimeID(t *testing.T) {
	hostFeatures.Requires(t, feature.SubIDs)
	uid, gid := firstSubID(t, "/etc/subuid"), firstSubID(t, "/etc/subgid")
	b := bundle(t, []string{"sh", "-c", "id -u; id -g; touch /tmp/x && echo tmp-ok; ls -d /dev/pts"}, func(cfg map[string]any) {
		lin := cfg["linux"].(map[string]any)
		lin["uidMappings"] = []map[string]any{{"containerID": 0, "hostID": uid, "size": 1000}}
		lin["gidMappings"] = []map[string]any{{"containerID": 0, "hostID": gid, "size": 1000}}
	})
	// The container's root reads the rootfs, as with runc: the test's
	// directories are the user's, 0700.
	for _, d := range []string{filepath.Dir(b), b} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := rt(t, t.TempDir(), "run", "--bundle", b, "maps")
	if r.code != 0 || r.stdout != "0\n0\ntmp-ok\n/dev/pts\n" {
		t.Fatalf("run: exit %d\nstdout: %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// firstSubID is the start of the user's first range in an /etc/subuid
// style file.
func firstSubID(t *testing.T, path string) int {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) == 3 && (f[0] == u.Username || f[0] == u.Uid) {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("%s: %q", path, line)
			}
			return n
		}
	}
	t.Fatalf("%s: no range for %s", path, u.Username)
	return 0
}

// TestNonRootUser: run as podman runs it (root of a user namespace with the
// user's sub-IDs, no user namespace in config.json), a non-root
// process.user keeps the capabilities it is given (Go's fork cleared the
// ambient set as it left ID 0) and gets exactly additionalGids, not init's
// group 0; exec alike.
func TestNonRootUser(t *testing.T) {
	hostFeatures.Requires(t, feature.SubIDs)
	script := "grep -E 'Cap(Eff|Amb)' /proc/self/status; id -G"
	b := bundle(t, []string{"sh", "-c", script}, func(cfg map[string]any) {
		cfg["process"].(map[string]any)["user"] = map[string]any{"uid": 1000, "gid": 1000}
		lin := cfg["linux"].(map[string]any)
		delete(lin, "uidMappings")
		delete(lin, "gidMappings")
		lin["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}}
	})
	root := t.TempDir()
	asRoot := func(args ...string) string {
		t.Helper()
		r := runFiles(t, exec.Command("unshare", append([]string{"--map-auto", "--map-root-user", runtime, "--root", root}, args...)...))
		if r.code != 0 {
			t.Fatalf("sandbox-runc %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	want := "CapEff:\t0000000000000420\nCapAmb:\t0000000000000420\n1000\n" // CAP_KILL, CAP_NET_BIND_SERVICE
	if got := asRoot("run", "--bundle", b, "user"); got != want {
		t.Errorf("run: got %q, want %q", got, want)
	}
	t.Cleanup(func() { asRoot("delete", "--force", "user2") })
	rewrite(t, b, func(cfg map[string]any) { cfg["process"].(map[string]any)["args"] = []string{"sleep", "60"} })
	asRoot("run", "--detach", "--bundle", b, "user2")
	if got := asRoot("exec", "--user", "1000:1000", "user2", "sh", "-c", script); got != want {
		t.Errorf("exec: got %q, want %q", got, want)
	}
}
