package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tty tries to type into the terminal on stdin, and to reach a controlling one.
func tty() {
	_, err := unix.IoctlGetTermios(0, unix.TCGETS)
	fmt.Println("isatty", err == nil)
	say("tiocsti", unix.IoctlSetPointerInt(0, unix.TIOCSTI, '#'))
	// The kernel takes the command as 32 bits; a filter that compares all
	// 64 would let this through (CVE-2019-10063). NULL: EFAULT if it got in.
	hi := uint64(0xdead)<<32 | unix.TIOCSTI
	_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, uintptr(hi), 0)
	say("tiocsti-hibits", rawErr(e))
	say("tioclinux", unix.IoctlSetPointerInt(0, unix.TIOCLINUX, 6 /* TIOCL_GETSHIFTSTATE */))
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	say("devtty", err)
	sid, _ := unix.Getsid(0)
	fmt.Println("session-leader", sid == os.Getpid())
}

// status prints the lock-down fields of /proc/self/status and our IDs.
func status() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		say("status", err)
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		if strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Seccomp" {
			fmt.Println(k, strings.TrimSpace(v))
		}
	}
	fmt.Println("uid", os.Getuid())
	fmt.Println("euid", os.Geteuid())
}

// setfcap gives path a file capability (v2 xattr, which the kernel records
// against the user namespace's root): CAP_DAC_OVERRIDE and CAP_NET_RAW,
// permitted and effective.
func setfcap(path string) error {
	const revision2, effective = 0x02000000, 0x1
	perm := uint32(1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_NET_RAW)
	v := []uint32{revision2 | effective, perm, 0, 0, 0}
	b := make([]byte, 0, 20)
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return unix.Setxattr(path, "security.capability", b, 0)
}

// runas becomes UID and GID (args[0], args[1]) without keeping capabilities
// (the kernel clears the permitted set when root's IDs go; setpriv keeps
// them) and execs args[2:].
func runas(args []string) {
	uid, _ := strconv.Atoi(args[0])
	gid, _ := strconv.Atoi(args[1])
	for _, err := range []error{
		syscall.Setgroups(nil), syscall.Setresgid(gid, gid, gid), syscall.Setresuid(uid, uid, uid),
	} {
		if err != nil {
			say("runas", err)
			os.Exit(1)
		}
	}
	say("runas-exec", syscall.Exec(args[2], args[2:], os.Environ()))
	os.Exit(1)
}

// forkbomb starts up to args[0] sleeping children and says how many it got.
// One goroutine, one P and no GC, so that the runtime asks for no new thread
// (which the pids limit would refuse, and the runtime would die of).
func forkbomb(args []string) {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(-1)
	n, _ := strconv.Atoi(args[0])
	started, failed := 0, 0
	var first error
	var pids []int
	for i := 0; i < n; i++ {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{})
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		started++
		pids = append(pids, pid)
	}
	fmt.Println("started", started)
	fmt.Println("failed", failed)
	say("first-error", first)
	for _, p := range pids {
		_ = unix.Kill(p, unix.SIGKILL)
	}
	for range pids {
		_, _ = unix.Wait4(-1, nil, 0, nil)
	}
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
