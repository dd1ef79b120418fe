package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/layers"
	"sandbox/network"
)

// checkUserNS clones a process into a new user namespace, then another that
// uses a capability in it: AppArmor's apparmor_restrict_unprivileged_userns
// lets the clone through and takes the capabilities away.
func checkUserNS(ctx context.Context, env *checkEnv) checkResult {
	err := cloneTrue(ctx, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER})
	if err != nil {
		found, fix := usernsBlocker(env, err)
		return checkFail("clone(CLONE_NEWUSER): "+found, fix)
	}
	// chroot(2) needs CAP_SYS_CHROOT in the new namespace, before the exec.
	err = cloneTrue(ctx, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Chroot: "/"})
	if err != nil {
		found, fix := usernsBlocker(env, err)
		return checkFail("a new user namespace gives no capabilities (chroot inside: "+found+")", fix)
	}
	found := "clone(CLONE_NEWUSER) works, with capabilities inside"
	if n := readSysctl(env, "user/max_user_namespaces"); n != "" {
		found += " (user.max_user_namespaces = " + n + ")"
	}
	return checkOK(found)
}

// cloneTrue runs `true` with attr.
func cloneTrue(ctx context.Context, attr *syscall.SysProcAttr) error {
	bin, err := exec.LookPath("true")
	if err != nil {
		bin = "/bin/true"
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.SysProcAttr = attr
	return cmd.Run()
}

func readSysctl(env *checkEnv, name string) string {
	b, err := os.ReadFile(filepath.Join(env.sysctl, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// usernsBlocker names the knob that refused a user namespace, and its fix.
func usernsBlocker(env *checkEnv, err error) (found, fix string) {
	keep := " (to keep it, put the same setting in /etc/sysctl.d/50-sandbox.conf)"
	switch {
	case errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EUSERS):
		n := readSysctl(env, "user/max_user_namespaces")
		return fmt.Sprintf("%v: the limit user.max_user_namespaces = %s is reached", err, n),
			"sudo sysctl -w user.max_user_namespaces=28633" + keep
	case readSysctl(env, "kernel/unprivileged_userns_clone") == "0":
		return fmt.Sprintf("%v: kernel.unprivileged_userns_clone = 0 forbids it", err),
			"sudo sysctl -w kernel.unprivileged_userns_clone=1" + keep
	case readSysctl(env, "user/max_user_namespaces") == "0":
		return fmt.Sprintf("%v: user.max_user_namespaces = 0 forbids it", err),
			"sudo sysctl -w user.max_user_namespaces=28633" + keep
	case readSysctl(env, "kernel/apparmor_restrict_unprivileged_userns") == "1":
		return fmt.Sprintf("%v: kernel.apparmor_restrict_unprivileged_userns = 1 and sandbox has no AppArmor profile allowing userns", err),
			apparmorFix()
	case seccompMode() == 2:
		return fmt.Sprintf("%v: this process already runs under a seccomp filter (a container?) that refuses it", err),
			"run the container with --security-opt seccomp=unconfined, or a profile that allows clone/unshare of user namespaces"
	}
	return err.Error(), "see dmesg; the kernel may be built without CONFIG_USER_NS"
}

// apparmorFix is the AppArmor profile that lets this binary create user
// namespaces (Ubuntu 23.10+), on one line.
func apparmorFix() string {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		exe = "/path/to/sandbox"
	}
	return `printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile sandbox ` + exe +
		` flags=(unconfined) {\n  userns,\n}\n' | sudo tee /etc/apparmor.d/sandbox && sudo apparmor_parser -r /etc/apparmor.d/sandbox` +
		" (or, for every program: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"
}

// seccompMode is PR_GET_SECCOMP's answer: 0 none, 2 filter; -1 when the kernel
// has no seccomp.
func seccompMode() int {
	m, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err != nil {
		return -1
	}
	return m
}

// checkSeccomp asks the kernel for seccomp filters and the actions the
// sandbox's filter returns.
func checkSeccomp(_ context.Context, _ *checkEnv) checkResult {
	status, _ := os.ReadFile("/proc/self/status")
	if seccompMode() < 0 || !strings.Contains(string(status), "\nSeccomp:") {
		return checkFail("the kernel has no seccomp (prctl PR_GET_SECCOMP: EINVAL): every run installs a filter",
			"a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER (every distribution kernel is)")
	}
	for _, a := range []struct {
		name   string
		action uint32
	}{{"SECCOMP_RET_ERRNO", unix.SECCOMP_RET_ERRNO}, {"SECCOMP_RET_KILL_PROCESS", unix.SECCOMP_RET_KILL_PROCESS}} {
		if err := seccompActionAvail(a.action); err != nil {
			return checkFail(fmt.Sprintf("seccomp filter action %s unavailable: %v", a.name, err), "Linux 4.14 or later")
		}
	}
	found := "seccomp filters with ERRNO and KILL_PROCESS actions"
	if seccompMode() == 2 {
		found += " (this process already runs under a filter: a container's filters apply too)"
	}
	return checkOK(found)
}

// checkDataDir creates and removes a file in the store of layers and measures
// its free space.
func checkDataDir(_ context.Context, env *checkEnv) checkResult {
	store, err := layers.DefaultStore()
	if err != nil {
		return checkFail(err.Error(), "set HOME or XDG_DATA_HOME")
	}
	dir := store.Root
	fix := fmt.Sprintf("make %s writable (chmod u+w), or set XDG_DATA_HOME to a writable directory", dir)
	// A plain run keeps its layers in memory where the kernel allows
	// (view_mem.go): then only the runs with layers on disk fail.
	bad, who := checkFail, "every run keeps its layers there"
	if env.MemLayers() {
		bad, who = checkWarn, "--name, --cow, --uid 0, --rootfs and --image runs keep their layers there (plain runs keep theirs in memory)"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return bad(fmt.Sprintf("create %s: %v: %s", dir, unwrapPath(err), who), fix)
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return bad(fmt.Sprintf("%s is not writable (%v): %s", dir, unwrapPath(err), who), fix)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return checkFail(fmt.Sprintf("remove a file in %s: %v", dir, unwrapPath(err)), fix)
	}
	if err := layers.CheckUserXattrs(dir); errors.Is(err, layers.ErrNoUserXattrs) {
		return bad(fmt.Sprintf("%v, which the kernel overlay needs: %s (only --overlay fuse works there)", err, who),
			"set XDG_DATA_HOME to a directory on a disk filesystem")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return checkWarn(fmt.Sprintf("%s is writable; free space unknown (statfs: %v)", dir, err), "")
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < 1<<30 {
		return checkWarn(fmt.Sprintf("%s is writable but has only %s free: copy-on-write layers and --name sandboxes live there", dir, env.Size(free)),
			"free some space, or set XDG_DATA_HOME to a larger filesystem (sandbox ls, sandbox rm NAME)")
	}
	return checkOK(fmt.Sprintf("%s is writable, %s free", dir, env.Size(free)))
}

// unwrapPath drops the path a *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkNetwork looks for the user-mode stacks of --net user, and runs one.
func checkNetwork(ctx context.Context, env *checkEnv) checkResult {
	var have []string
	for _, h := range []string{"pasta", "slirp4netns"} {
		if p, err := exec.LookPath(h); err == nil {
			have = append(have, p)
		}
	}
	if _, err := network.Pick(network.Gvisor); err == nil {
		// Its confinement needs Landlock (Linux 5.13+, enabled at boot).
		if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); e != 0 {
			have = append(have, "sandbox-netstack (no Landlock: its file access unconfined)")
		} else {
			have = append(have, "sandbox-netstack")
		}
	}
	if len(have) == 0 {
		return checkWarn("none of pasta, slirp4netns and sandbox-netstack is installed: --net user is refused (the default --net none works)",
			"apt install passt slirp4netns")
	}
	found := strings.Join(have, ", ")
	f, err := os.OpenFile(env.devTun, os.O_RDWR, 0)
	if err != nil {
		return checkFail(fmt.Sprintf("%s; open %s: %v: --net user cannot make its interface", found, env.devTun, unwrapPath(err)),
			"sudo chmod 0666 "+env.devTun+" (as udev sets it), or sudo modprobe tun")
	}
	f.Close()
	if !env.deep {
		return checkOK(found)
	}
	res := sandboxTrue(ctx, env, "--net", "user")
	if res.code != 0 {
		fix := res.fix()
		said := strings.TrimSuffix(res.describe(), "; fix: "+fix) // said once, as the fix
		if fix == seeOtherLines {
			fix = "sandbox --verbose --net user -- true shows the helper's own messages"
		}
		return checkFail(fmt.Sprintf("%s; sandbox --net user -- true: %s", found, said), fix)
	}
	if res.stderr != "" { // which stack it took instead of pasta, and why
		return checkOK(found + "; sandbox --net user -- true works; it said: " + res.stderr)
	}
	return checkOK(found + "; sandbox --net user -- true works")
}

// checkFuse looks for fuse-overlayfs and opens /dev/fuse, then runs a sandbox
// on it.
func checkFuse(ctx context.Context, env *checkEnv) checkResult {
	uses := "--uid 0 and --overlay fuse need it"
	f, err := os.OpenFile(env.devFuse, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return checkFail(fmt.Sprintf("no %s: %s", env.devFuse, uses), "sudo modprobe fuse")
	case err != nil:
		mode := ""
		if fi, serr := os.Stat(env.devFuse); serr == nil {
			mode = fmt.Sprintf(", mode %04o", fi.Mode().Perm())
		}
		return checkFail(fmt.Sprintf("open %s: %v%s: %s", env.devFuse, unwrapPath(err), mode, uses),
			"sudo chmod 0666 "+env.devFuse+" (the fuse package's udev rule does this)")
	}
	f.Close()
	bin, err := exec.LookPath("fuse-overlayfs")
	if err != nil {
		return checkWarn(fmt.Sprintf("%s opens, but fuse-overlayfs is not on PATH: %s", env.devFuse, uses), "apt install fuse-overlayfs")
	}
	found := fmt.Sprintf("%s, %s opens", bin, env.devFuse)
	if !env.deep {
		return checkOK(found)
	}
	res := sandboxTrue(ctx, env, "--overlay", "fuse")
	if res.code != 0 {
		return checkFail(fmt.Sprintf("%s; sandbox --overlay fuse -- true: %s", found, res.describe()), res.fix())
	}
	return checkOK(found + "; sandbox --overlay fuse -- true works")
}
