package escape

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The kernel's knobs stay out of reach: /proc/sys (core_pattern and
// modprobe are the classic ways out of a container), /proc/sysrq-trigger and
// /sys/kernel/uevent_helper cannot be opened for writing, and /sys is
// read-only under every engine: under --uid 0 the root is one
// fuse-overlayfs of the host's (README), and /sys a read-only bind over it
// (through fuse-overlayfs a write to transparent_hugepage/enabled left the
// daemon spinning and the command in D state, issue 22).
func TestProcAndSysReadOnly(t *testing.T) {
	knobs := []string{"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
		"/proc/sys/vm/drop_caches", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper"}
	inModes(t, func(t *testing.T, m mode) {
		guard(t, knobs...)
		want := map[string][]string{
			"create:/sys/escape-test":  {"EROFS"},
			"create:/proc/escape-test": {"ENOENT", "EACCES", "EROFS"},
		}
		thp := "/sys/kernel/mm/transparent_hugepage/enabled"
		attempts := []string{"create:/sys/escape-test", "create:/proc/escape-test"}
		if _, err := os.Stat(thp); err == nil {
			want["openw:"+thp] = []string{"EROFS", "EACCES"}
			attempts = append(attempts, "openw:"+thp)
		}
		for _, k := range knobs {
			if _, err := os.Stat(k); err != nil {
				want["openw:"+k] = []string{"ENOENT"} // the host's kernel has none either
			} else {
				want["openw:"+k] = []string{"EACCES", "EROFS", "EPERM"}
			}
			attempts = append(attempts, "openw:"+k)
		}
		r := must(t, m.with(append([]string{"--", escapee, "do"}, attempts...)...)...)
		expect(t, r, m.name+": ", want)
		if _, err := os.Lstat("/sys/escape-test"); err == nil {
			t.Errorf("%s: /sys/escape-test made inside exists in the host's sysfs", m.name)
		}
	}, defaultMode, rootAll)
}

// The sandbox's own mounts are not locked against it, so unmounting one
// could uncover what it hides (the tmpfs over ~/.ssh, the fresh /tmp over the
// host's), and remounting a read-only bind could make the host writable:
// the seccomp filter refuses every mount call with EPERM, even for root
// inside with every capability of its namespace.
func TestMountCallsRefused(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		ro := workdir(t)
		writeFile(t, filepath.Join(ro, "f"), "read-only\n", 0o644)
		guard(t, ro)
		r := must(t, m.with("--ro", ro, "--", escapee, "do",
			"write:"+ro+"/f",
			"umount:/tmp", "detach:/tmp", "umount:"+secretDir, "detach:"+secretDir, "detach:/proc",
			"remount:"+ro, "remount:/", "remount:/sys", "setattr:"+ro, "mount:/tmp",
			"read:"+secret, "write:"+ro+"/f")...)
		want := map[string][]string{"read:" + secret: {"ENOENT"}}
		for _, a := range []string{"umount:/tmp", "detach:/tmp", "umount:" + secretDir, "detach:" + secretDir, "detach:/proc",
			"remount:" + ro, "remount:/", "remount:/sys", "setattr:" + ro, "mount:/tmp"} {
			want[a] = []string{"EPERM"}
		}
		expect(t, r, m.name+": ", want)
		// Both writes (before and after the attempts) hit the read-only bind.
		if n := strings.Count(r.stdout, "write:"+ro+"/f EROFS"); n != 2 {
			t.Errorf("%s: --ro bind: want both writes refused with EROFS:\n%s", m.name, r)
		}
	}, defaultMode, rootAll)
}

// Mount propagation is private: even where the filter is off and root inside
// may mount, nothing mounted inside shows in the host's mount table.
func TestMountStaysInside(t *testing.T) {
	requires(t, UserNS)
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		src := "escape-" + token()
		script := "mkdir -p /tmp/m && mount -t tmpfs " + src + " /tmp/m && grep -c " + src + " /proc/self/mountinfo"
		r := must(t, m.with("--seccomp", "unconfined", "--", "sh", "-c", script)...)
		if strings.TrimSpace(r.stdout) != "1" {
			t.Fatalf("the mount inside did not happen, the case proves nothing:\n%s", r)
		}
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), src) {
			t.Errorf("the tmpfs %s mounted inside appears in the host's mount table", src)
		}
	}, rootAll)
}

// A symlink planted in a writable bind cannot send a later --tmpfs or --ro
// destination outside: destinations are opened inside the sandbox's root
// (RESOLVE_IN_ROOT), so the mount lands on what the link names *inside*, and
// a link climbing out with ".." stops at the sandbox's root.
func TestMountDestinationSymlink(t *testing.T) {
	requires(t, UserNS)
	rw, target, src := workdir(t), workdir(t), workdir(t)
	writeFile(t, filepath.Join(target, "keep"), "keep\n", 0o644)
	writeFile(t, filepath.Join(src, "from-src"), "src\n", 0o644)
	// The links: one to target, one climbing out of the root with "..",
	// one to /etc.
	link, up, etc := filepath.Join(rw, "link"), filepath.Join(rw, "up"), filepath.Join(rw, "etc")
	climb := strings.Repeat("../", strings.Count(rw, "/")+4) + "oldroot" + target
	for l, to := range map[string]string{link: target, up: climb, etc: "/etc"} {
		if err := os.Symlink(to, l); err != nil {
			t.Fatal(err)
		}
	}
	guard(t, rw, target, src, "/etc/hostname", "/etc/passwd", "/oldroot")

	// The tmpfs covers the sandbox's view of target; the host's stays as it was.
	r := must(t, "--rw", rw, "--tmpfs", link, "--", escapee, "do", "empty:"+target, "exists:"+target+"/keep", "create:"+link+"/new")
	expect(t, r, "--tmpfs through a link: ", map[string][]string{
		"empty:" + target: {"OK"}, "exists:" + target + "/keep": {"ENOENT"}, "create:" + link + "/new": {"OK"},
	})
	// The same for a read-only bind.
	r = must(t, "--rw", rw, "--ro", src+":"+link, "--", escapee, "do", "exists:"+target+"/from-src", "exists:"+target+"/keep")
	expect(t, r, "--ro through a link: ", map[string][]string{
		"exists:" + target + "/from-src": {"OK"}, "exists:" + target + "/keep": {"ENOENT"},
	})

	// A relative link that climbs to where init keeps the host's tree while
	// it builds the root (/oldroot): inside the sandbox's root there is no
	// such directory, and the root is read-only, so the destination cannot
	// be made: a one-line error, and nothing mounted or created anywhere.
	r = sandbox(t, "--rw", rw, "--tmpfs", up, "--", escapee, "do", "exists:"+target+"/keep")
	if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("--tmpfs through a link climbing out of the root: want exit 125 and one line, got %s", r)
	}

	// A link to /etc: the tmpfs covers the sandbox's /etc (README: symlinks
	// cannot send a mount outside the new root), the host's /etc is untouched.
	r = must(t, "--rw", rw, "--tmpfs", etc, "--", escapee, "do", "empty:/etc", "create:/etc/escape-test")
	expect(t, r, "--tmpfs through a link to /etc: ", map[string][]string{"empty:/etc": {"OK"}, "create:/etc/escape-test": {"OK"}})
	if _, err := os.Lstat("/etc/escape-test"); err == nil {
		t.Errorf("/etc/escape-test exists on the host")
	}
}

// --allow-nested lets the command mount, but only in a user and mount
// namespace of its own (issue 22: bubblewrap and `unshare -m` inside failed
// while the README promised nested sandboxes). There the sandbox's mounts
// are locked together: unmounting the tmpfs that hides ~/.ssh fails and the
// secret stays out of reach. In the sandbox's own mount namespace mounting
// still fails, and with CAP_SYS_ADMIN in the sandbox the mount API stays
// denied by the filter.
func TestNestedMounts(t *testing.T) {
	requires(t, UserNS, Fuse)
	guard(t)
	r := sandbox(t, "--allow-nested", "--", "unshare", "-Urm", "sh", "-c",
		`mount -t tmpfs none /mnt && echo mounted; umount "$1" 2>/dev/null && echo UNMOUNTED; umount -l "$1" 2>/dev/null && echo UNMOUNTED; cat "$2" 2>/dev/null && echo LEAKED; true`, "sh", secretDir, secret)
	if !strings.Contains(r.stdout, "mounted") {
		t.Errorf("--allow-nested: a mount in the command's own namespaces failed:\n%s", r)
	}
	if strings.Contains(r.stdout, "UNMOUNTED") || strings.Contains(r.stdout, "LEAKED") {
		t.Errorf("--allow-nested: ESCAPE: the command unmounted the sandbox's mount over %s in a nested namespace:\n%s", secretDir, r)
	}
	if _, err := exec.LookPath("bwrap"); err == nil {
		r = sandbox(t, "--allow-nested", "--", "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "sh", "-c", "echo nested-ok")
		if r.code != 0 || !strings.Contains(r.stdout, "nested-ok") {
			t.Errorf("--allow-nested: bubblewrap inside failed:\n%s", r)
		}
	} else if os.Getenv("SANDBOX_TESTS_MUST_WORK") != "" {
		t.Errorf("bwrap not found: install bubblewrap")
	} else {
		t.Log("bwrap not found: bubblewrap inside not tried")
	}
	// In the sandbox's own mount namespace: no capability, so EPERM.
	r = sandbox(t, "--allow-nested", "--", "sh", "-c", `umount -l "$1" 2>/dev/null && echo UNMOUNTED; cat "$2" 2>/dev/null && echo LEAKED; true`, "sh", secretDir, secret)
	if strings.Contains(r.stdout, "UNMOUNTED") || strings.Contains(r.stdout, "LEAKED") {
		t.Errorf("--allow-nested: ESCAPE: unmount in the sandbox's own namespace:\n%s", r)
	}
	// With CAP_SYS_ADMIN in the sandbox the filter keeps the mount API shut.
	r = sandbox(t, "--allow-nested", "--uid", "0", "--cap-add", "SYS_ADMIN", "--", escapee, "do", "detach:"+secretDir)
	if got := r.get("detach:" + secretDir); got != "EPERM" {
		t.Errorf("--allow-nested --cap-add SYS_ADMIN: umount %s: %s, want EPERM from the filter:\n%s", secretDir, got, r)
	}
}

// The kernel's files that tell about the host are masked, as runc's
// maskedPaths are (issue 22): /proc/cmdline reads empty, /sys/firmware lists
// nothing; and neither /proc/self/mountinfo's overlay options nor the
// fuse-overlayfs daemon's command line name the store's paths (the user's
// home). With --allow-nested nothing is masked, so that a nested proc mount
// works (the kernel wants the proc it sees fully visible).
func TestKernelFilesMasked(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		r := must(t, m.with("--", "sh", "-c", "wc -c < /proc/cmdline; ls -A /sys/firmware | wc -l")...)
		if f := strings.Fields(r.stdout); len(f) != 2 || f[0] != "0" || f[1] != "0" {
			t.Errorf("%s: /proc/cmdline or /sys/firmware not masked (want 0 bytes, 0 entries):\n%s", m.name, r)
		}
		r = must(t, m.with("--", "sh", "-c", "grep -h upperdir= /proc/self/mountinfo; ps -eo args | grep '[f]use-overlayfs'; true")...)
		if strings.Contains(r.stdout, home) {
			t.Errorf("%s: mountinfo's overlay options or the fuse daemon's argv name the store under %s:\n%s", m.name, home, r)
		}
	}, defaultMode, rootAll)
	requires(t, UserNS)
	r := must(t, "--allow-nested", "--", "sh", "-c", "wc -c < /proc/cmdline; unshare -Urmpf --mount-proc true && echo nested-proc")
	if !strings.Contains(r.stdout, "nested-proc") {
		t.Errorf("--allow-nested: a nested proc mount failed:\n%s", r)
	}
}
