package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// call is one denied syscall with harmless arguments: if the filter let it
// through, it would fail on its arguments (EINVAL, EFAULT, EBADF) or do nothing.
type call struct {
	name string
	nr   uintptr
	args [6]uintptr
}

// syscalls tries the calls the default seccomp filter denies.
func syscalls() {
	bad := ^uintptr(0)
	calls := []call{
		{"keyctl", unix.SYS_KEYCTL, [6]uintptr{0 /* GET_KEYRING_ID */, bad}},
		{"add_key", unix.SYS_ADD_KEY, [6]uintptr{0, 0, 0, 0, bad}},
		{"request_key", unix.SYS_REQUEST_KEY, [6]uintptr{0, 0, 0, bad}},
		{"bpf", unix.SYS_BPF, [6]uintptr{bad, 0, 0}},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, [6]uintptr{0, 0, bad, bad, 0}},
		{"userfaultfd", unix.SYS_USERFAULTFD, [6]uintptr{bad}},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, [6]uintptr{bad, 0, 0}},
		{"name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT, [6]uintptr{bad, 0, 0, 0, 0}},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, [6]uintptr{bad, 0}},
		{"io_uring_enter", unix.SYS_IO_URING_ENTER, [6]uintptr{bad, 0, 0, 0, 0, 0}},
		{"io_uring_register", unix.SYS_IO_URING_REGISTER, [6]uintptr{bad, 0, 0, 0}},
		{"finit_module", unix.SYS_FINIT_MODULE, [6]uintptr{bad, 0, 0}},
		{"kexec_load", unix.SYS_KEXEC_LOAD, [6]uintptr{0, 0, 0, bad}},
		{"setns", unix.SYS_SETNS, [6]uintptr{bad, 0}},
		{"unshare_newuser", unix.SYS_UNSHARE, [6]uintptr{unix.CLONE_NEWUSER}},
		{"mount", unix.SYS_MOUNT, [6]uintptr{0, 0, 0, 0, 0}},
		{"umount2", unix.SYS_UMOUNT2, [6]uintptr{0, 0}},
		{"pivot_root", unix.SYS_PIVOT_ROOT, [6]uintptr{0, 0}},
		{"fsopen", unix.SYS_FSOPEN, [6]uintptr{0, 0}},
		{"open_tree", unix.SYS_OPEN_TREE, [6]uintptr{bad, 0, 0}},
		{"move_mount", unix.SYS_MOVE_MOUNT, [6]uintptr{bad, 0, bad, 0, 0}},
		{"mount_setattr", unix.SYS_MOUNT_SETATTR, [6]uintptr{bad, 0, 0, 0, 0}},
		{"syslog", unix.SYS_SYSLOG, [6]uintptr{10 /* SIZE_BUFFER */}},
		{"clock_settime", unix.SYS_CLOCK_SETTIME, [6]uintptr{bad, 0}},
		{"personality_bsd", unix.SYS_PERSONALITY, [6]uintptr{0x0006}},
		{"clone3", unix.SYS_CLONE3, [6]uintptr{0, 0}},
	}
	for _, c := range calls {
		_, _, e := unix.Syscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		say(c.name, rawErr(e))
	}
}

// connect dials args[1] over network args[0] and prints "connect OK LINE" (the
// first line the peer sent) or the errno.
func connect(args []string) {
	c, err := net.DialTimeout(args[0], args[1], 3*time.Second)
	if err != nil {
		var errno unix.Errno
		if !errors.As(err, &errno) {
			fmt.Println("connect ERROR:" + err.Error())
			return
		}
		say("connect", errno)
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Second)) // a D-Bus server says nothing first
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Println("connect OK", line)
}
