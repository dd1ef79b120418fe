package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// exe tries to open the supervisor's binary for writing by every name the
// command can give it (runc CVE-2019-5736). args[0] is its host path.
func exe(args []string) {
	targets := []string{"/proc/1/exe", "/proc/self/exe"}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil && e.Name() != "1" {
			targets = append(targets, "/proc/"+e.Name()+"/exe")
		}
	}
	for _, p := range targets {
		say("openw:"+p, doOne("openw", p))
	}
	// O_PATH first, then a write open through the fd's magic link.
	fd, err := unix.Open("/proc/1/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	say("opath:/proc/1/exe", err)
	if err == nil {
		say("reopen:/proc/1/exe", doOne("openw", fmt.Sprintf("/proc/self/fd/%d", fd)))
	}
	if len(args) > 0 {
		// The host path, as the sandbox shows it: copy-on-write.
		say("append:"+args[0], doOne("append", args[0]))
	}
}

// fds lists the command's descriptors, then init's, and tries to use a
// directory among init's to create args[0] there.
func fds(args []string) {
	// Raw calls first: an *os.File would start Go's poller, whose epoll
	// and eventfd descriptors would join the list.
	self, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		say("list:/proc/self/fd", err)
		return
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(self, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, n := range sortedNums(names) {
		if n == self {
			fmt.Println("listing", n)
			continue
		}
		target, _ := os.Readlink(fmt.Sprint("/proc/self/fd/", n))
		fmt.Println("fd", n, target)
	}
	unix.Close(self)
	ents, _ := os.ReadDir("/proc/1/fd")
	for _, e := range ents {
		target, _ := os.Readlink("/proc/1/fd/" + e.Name())
		fmt.Println("initfd", e.Name(), target)
	}
	fdPaths("/proc/1", args[0])
}

func sortedNums(names []string) []int {
	var out []int
	for _, n := range names {
		if i, err := strconv.Atoi(n); err == nil {
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// initAccess tries what a process may do to another it may ptrace: init is
// the one process inside that holds privileges the command lacks.
func initAccess() {
	// SEIZE does not stop init; if it succeeds, our exit detaches.
	say("ptrace-seize:1", unix.PtraceSeize(1))
	say("openrw:/proc/1/mem", openClose("/proc/1/mem", unix.O_RDWR))
	_, err := os.ReadFile("/proc/1/environ")
	say("read:/proc/1/environ", err)
	_, err = os.Readlink("/proc/1/root")
	say("readlink:/proc/1/root", err)
	_, err = os.ReadDir("/proc/1/root/")
	say("list:/proc/1/root", err)
	say("openw:/proc/1/fd/4", openClose("/proc/1/fd/4", unix.O_WRONLY))
	fdPaths("/proc/1", "escapee-was-here")
}

// others tries, for every process inside but init and itself (fuse-overlayfs
// under --uid 0), to go where that process's root and descriptors lead: a
// helper started before the sandbox's root was in place may hold the host's.
// args[0] is a host directory the sandbox does not show writable, args[1]
// the name of a file to create there.
func others(args []string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == os.Getpid() {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprint("/proc/", pid, "/comm"))
		p := fmt.Sprint("/proc/", pid)
		fmt.Println("process", pid, strings.TrimSpace(string(comm)))
		say(fmt.Sprint("ptrace-seize:", pid), unix.PtraceSeize(pid))
		_, err = os.ReadDir(p + "/root/")
		say("list:"+p+"/root", err)
		say("create:"+p+"/root", doOne("create", p+"/root"+args[0]+"/"+args[1]))
		fdPaths(p, args[1])
	}
}

// fdPaths lists process p's descriptors (a listing alone names no file) and
// opens each (O_PATH, which needs ptrace access to p); through a directory
// that opens, it tries to create name.
func fdPaths(p, name string) {
	fds, err := os.ReadDir(p + "/fd")
	say("list:"+p+"/fd", err)
	for _, fd := range fds {
		f := p + "/fd/" + fd.Name()
		err := openClose(f, unix.O_PATH)
		say("opath:"+f, err)
		if st, serr := os.Stat(f); err == nil && serr == nil && st.IsDir() {
			say("create:"+f, doOne("create", f+"/"+name))
		}
	}
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// kill tries to reach a host process by its host PID.
func kill(args []string) {
	pid, _ := strconv.Atoi(args[0])
	say("kill0", unix.Kill(pid, 0))
	say("kill", unix.Kill(pid, unix.SIGKILL))
	_, err := os.Stat(fmt.Sprint("/proc/", pid))
	say("proc", err)
	var procs []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			procs = append(procs, e.Name()+":"+strings.TrimSpace(string(comm)))
		}
	}
	fmt.Println("procs", strings.Join(procs, ","))
}
