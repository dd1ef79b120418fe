// The Go runtime (1.25+) keeps the CPU cgroup's quota files open on a host
// with cgroup v1 hierarchies: descriptors the tests would count as leaked.
//
//go:debug containermaxprocs=0

// Command escapee runs inside the sandbox for the escape tests (package
// escape): each subcommand tries one way out and prints what the kernel
// answered, one "NAME RESULT" line per attempt, RESULT being OK or the
// errno's name (EPERM, ENOENT, ...). It never retries a refused attempt
// another way: the test decides what a result means.
//
// Static (CGO_ENABLED=0) and built under $HOME by the tests' TestMain, so the
// sandbox, whose /tmp is its own, sees it at the same path.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escapee do|tty|exe|fds|init|inject|kill|syscalls|status|connect|setfcap|forkbomb ARGS...")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "do":
		do(args)
	case "tty":
		tty()
	case "exe":
		exe(args)
	case "fds":
		fds(args)
	case "init":
		initAccess()
	case "others":
		others(args)
	case "inject":
		inject(args)
	case "kill":
		kill(args)
	case "syscalls":
		syscalls()
	case "status":
		status()
	case "connect":
		connect(args)
	case "setfcap":
		say("setfcap", setfcap(args[0]))
	case "forkbomb":
		forkbomb(args)
	case "runas":
		runas(args)
	case "rawudp":
		rawUDP(args)
	default:
		fmt.Fprintln(os.Stderr, "escapee: unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

// say prints one attempt's result.
func say(name string, err error) {
	fmt.Println(name, result(err))
}

func result(err error) string {
	if err == nil {
		return "OK"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("errno%d", int(errno))
	}
	return "ERROR:" + strings.ReplaceAll(err.Error(), " ", "_")
}

func rawErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// do runs OP:PATH attempts in order: file access, mounts and unmounts.
func do(args []string) {
	for _, a := range args {
		op, path, _ := strings.Cut(a, ":")
		say(a, doOne(op, path))
	}
}

func doOne(op, path string) error {
	switch op {
	case "read": // open and read one byte
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Read(make([]byte, 1))
		return err
	case "openw": // open for writing, write nothing
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "write": // replace the content
		return os.WriteFile(path, []byte("written-by-escapee\n"), 0o644)
	case "append":
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString("appended-by-escapee\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case "create": // a new file, exclusively
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "exists":
		_, err := os.Lstat(path)
		return err
	case "empty": // a directory with nothing in it
		ents, err := os.ReadDir(path)
		if err == nil && len(ents) > 0 {
			return fmt.Errorf("has %d entries", len(ents))
		}
		return err
	case "umount":
		return unix.Unmount(path, 0)
	case "detach":
		return unix.Unmount(path, unix.MNT_DETACH)
	case "remount": // drop a bind's read-only flag
		return unix.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND, "")
	case "mount": // a new tmpfs
		return unix.Mount("escapee", path, "tmpfs", 0, "size=64k")
	case "setattr": // the new API's way to drop read-only
		fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("open_tree: %w", err)
		}
		defer unix.Close(fd)
		return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
	}
	return fmt.Errorf("unknown op %q", op)
}
