// The Go runtime (1.25+) keeps the CPU cgroup's quota files open on a host
// with cgroup v1 hierarchies: descriptors the tests would count as leaked.
//
//go:debug containermaxprocs=0

// Command probe is run inside the sandbox by the integration tests: it tries
// what the sandbox must refuse and prints what the kernel answered.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// call is one denied syscall with harmless arguments: if the filter let it
// through, it would fail on its arguments (EINVAL, ENOENT, EFAULT) or do nothing.
type call struct {
	name string
	nr   uintptr
	args [6]uintptr
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe syscalls|tiocsti")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "syscalls":
		syscalls()
	case "connect":
		connect("tcp", os.Args[2])
	case "connect-abstract":
		connect("unix", "@"+os.Args[2])
	case "serve":
		serve(os.Args[2])
	case "echo":
		echo(os.Args[2], os.Args[3])
	case "hold":
		hold(os.Args[2])
	case "tiocsti":
		fmt.Println("tiocsti", errno(tiocsti(0, '#')))
	}
}

func syscalls() {
	bad := uintptr(0xffffffff)
	calls := []call{
		{"keyctl", unix.SYS_KEYCTL, [6]uintptr{0 /* GET_KEYRING_ID */, bad}},
		{"add_key", unix.SYS_ADD_KEY, [6]uintptr{0, 0, 0, 0, bad}},
		{"request_key", unix.SYS_REQUEST_KEY, [6]uintptr{0, 0, 0, bad}},
		{"init_module", unix.SYS_INIT_MODULE, [6]uintptr{0, 0, 0}},
		{"finit_module", unix.SYS_FINIT_MODULE, [6]uintptr{bad, 0, 0}},
		{"delete_module", unix.SYS_DELETE_MODULE, [6]uintptr{0, 0}},
		{"kexec_load", unix.SYS_KEXEC_LOAD, [6]uintptr{0, 0, 0, bad}},
		{"bpf", unix.SYS_BPF, [6]uintptr{bad, 0, 0}},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, [6]uintptr{0, 0, bad, bad, 0}},
		{"userfaultfd", unix.SYS_USERFAULTFD, [6]uintptr{bad}},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, [6]uintptr{bad, 0, 0}},
		{"name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT, [6]uintptr{bad, 0, 0, 0, 0}},
		{"acct", unix.SYS_ACCT, [6]uintptr{0}},
		{"swapoff", unix.SYS_SWAPOFF, [6]uintptr{0}},
		{"reboot", unix.SYS_REBOOT, [6]uintptr{0, 0, 0}},
		{"syslog", unix.SYS_SYSLOG, [6]uintptr{10 /* SIZE_BUFFER */}},
		{"settimeofday", unix.SYS_SETTIMEOFDAY, [6]uintptr{0, 0}},
		{"clock_settime", unix.SYS_CLOCK_SETTIME, [6]uintptr{bad, 0}},
		{"quotactl", unix.SYS_QUOTACTL, [6]uintptr{0, 0, 0, 0}},
		{"iopl", unix.SYS_IOPL, [6]uintptr{bad}},
		{"ioperm", unix.SYS_IOPERM, [6]uintptr{0, 0, 0}},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, [6]uintptr{bad, 0}},
		{"mount", unix.SYS_MOUNT, [6]uintptr{0, 0, 0, 0, 0}},
		{"umount2", unix.SYS_UMOUNT2, [6]uintptr{0, 0}},
		{"pivot_root", unix.SYS_PIVOT_ROOT, [6]uintptr{0, 0}},
		{"fsopen", unix.SYS_FSOPEN, [6]uintptr{0, 0}},
		{"fsmount", unix.SYS_FSMOUNT, [6]uintptr{bad, 0, 0}},
		{"move_mount", unix.SYS_MOVE_MOUNT, [6]uintptr{bad, 0, bad, 0, 0}},
		{"open_tree", unix.SYS_OPEN_TREE, [6]uintptr{bad, 0, 0}},
		{"fsconfig", unix.SYS_FSCONFIG, [6]uintptr{bad, 0, 0, 0, 0}},
		{"fspick", unix.SYS_FSPICK, [6]uintptr{bad, 0, 0}},
		{"mount_setattr", unix.SYS_MOUNT_SETATTR, [6]uintptr{bad, 0, 0, 0, 0}},
		{"setns", unix.SYS_SETNS, [6]uintptr{bad, 0}},
		{"unshare_newuser", unix.SYS_UNSHARE, [6]uintptr{unix.CLONE_NEWUSER}},
		{"personality_bsd", unix.SYS_PERSONALITY, [6]uintptr{0x0006}},
		{"clone3", unix.SYS_CLONE3, [6]uintptr{0, 0}},
	}
	for _, c := range calls {
		_, _, e := unix.Syscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		fmt.Println(c.name, errno(e))
	}
}

func errno(e unix.Errno) string {
	if e == 0 {
		return "OK"
	}
	return unix.ErrnoName(e)
}

// connect dials addr and prints "ok LINE" (the first line the peer sent) or the
// errno of the failure.
func connect(network, addr string) {
	c, err := net.DialTimeout(network, addr, 3*time.Second)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Println("connect", unix.ErrnoName(errno))
		} else {
			fmt.Println("connect", "error:", err)
		}
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Println("connect ok", line)
}

// serve answers every TCP connection on addr with one line, for the network
// tests' test host.
// echo answers each line (tcp) or datagram (udp) with "echo: " and it,
// printing "listening" once it is, so a test knows when to connect.
func echo(proto, addr string) {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				os.Exit(1)
			}
			_, _ = c.WriteTo(append([]byte("echo: "), buf[:n]...), from)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				fmt.Fprintf(c, "echo: %s\n", sc.Text())
			}
		}()
	}
}

func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		fmt.Fprintln(c, "hello-from-test-host")
		c.Close()
	}
}

// hold listens on the IPv4 TCP address addr with a backlog of 1 and never
// accepts: a server that has stalled. The kernel queues a connection or two,
// then drops further handshakes.
func hold(addr string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		fmt.Fprintln(os.Stderr, "hold: want IPv4:PORT:", addr)
		os.Exit(2)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	}
	if err == nil {
		err = unix.Listen(fd, 1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
	fmt.Println("listening")
	for {
		time.Sleep(time.Hour)
	}
}
