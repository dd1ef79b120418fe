package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// syscalls times a loop of cheap system calls inside and outside, with the
// default seccomp filter.
func syscalls(sb, work string) {
	src := filepath.Join(work, "loop.c")
	os.WriteFile(src, []byte(`#include <unistd.h>
#include <fcntl.h>
#include <stdlib.h>
int main(int c, char **v) {
	long n = atol(v[1]); char b[1];
	int fd = open("/dev/zero", O_RDONLY);
	for (long i = 0; i < n; i++) { getppid(); read(fd, b, 1); }
	return 0;
}
`), 0o644)
	bin := filepath.Join(work, "loop")
	run("gcc", "-O2", "-o", bin, src)
	const n = "2000000"
	res := hyperfine(work, 5, []bench{
		{"outside", bin + " " + n},
		{"inside sandbox (default filter)", sb + " -- " + bin + " " + n},
		{"inside sandbox --seccomp unconfined", sb + " --seccomp unconfined -- " + bin + " " + n},
	})
	fmt.Println("## System calls: 2M × (getppid + read of /dev/zero)")
	fmt.Println()
	fmt.Println("| where | median ms | ratio to outside |")
	fmt.Println("|---|---:|---:|")
	for _, r := range res {
		fmt.Printf("| %s | %.0f | %.3f |\n", r.name, r.median*1e3, r.median/res[0].median)
	}
	fmt.Println()
}

// build unpacks a generated source tree of many files and builds it with
// make -j2: file creation, stat and many execs of gcc.
func build(sb, work string, quick bool) {
	files := 600
	if quick {
		files = 100
	}
	src := filepath.Join(work, "src")
	os.MkdirAll(src, 0o755)
	var objs []string
	for i := 0; i < files; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d.c", i)), []byte(fmt.Sprintf("int f%d(int x){return x*%d;}\n", i, i)), 0o644)
		for j := 0; j < 4; j++ { // data files: the tarball has more files than sources
			os.WriteFile(filepath.Join(src, fmt.Sprintf("d%d_%d.txt", i, j)), []byte(strings.Repeat("x", 100)), 0o644)
		}
		objs = append(objs, fmt.Sprintf("f%d.o", i))
	}
	os.WriteFile(filepath.Join(src, "main.c"), []byte("int main(){return 0;}\n"), 0o644)
	os.WriteFile(filepath.Join(src, "Makefile"), []byte("prog: main.o "+strings.Join(objs, " ")+"\n\tgcc -o $@ $^\n%.o: %.c\n\tgcc -O0 -c -o $@ $<\n"), 0o644)
	tarball := filepath.Join(work, "src.tar")
	run("tar", "-C", work, "-cf", tarball, "src")
	script := func(dir string) string {
		return fmt.Sprintf("rm -rf %[1]s && mkdir -p %[1]s && cd %[1]s && tar xf %[2]s && make -s -j2 -C src", dir, tarball)
	}
	out := filepath.Join(work, "b-out")
	home := filepath.Join(os.Getenv("HOME"), ".cache", "sandbox-bench-build") // outside the bound work dir: goes through the overlay with --cow
	list := []bench{
		{"outside", "sh -c '" + script(out) + "'"},
		{"sandbox (cwd bound, kernel overlay elsewhere)", sb + " -- sh -c '" + script(out) + "'"},
		{"sandbox --cow (all through the kernel overlay)", sb + " --cow --name bench-cow -- sh -c '" + script(home) + "'"},
		{"sandbox --overlay fuse --cow", sb + " --overlay fuse --cow --name bench-fuse -- sh -c '" + script(home) + "'"},
	}
	cmd := exec.Command("sh", "-c", "cd "+work)
	cmd.Run()
	res := hyperfine(work, 2, list)
	exec.Command(sb, "rm", "bench-cow", "bench-fuse").Run()
	fmt.Printf("## Build: unpack %d files and make -j2 (%d gcc runs)\n\n", files*5+2, files+2)
	fmt.Println("| where | median s | ratio to outside |")
	fmt.Println("|---|---:|---:|")
	for _, r := range res {
		fmt.Printf("| %s | %.2f | %.2f |\n", r.name, r.median, r.median/res[0].median)
	}
	fmt.Println()
}

// memory reads the peak RSS (VmHWM) of the supervisor and of the processes
// between it and the command, while the command runs; bubblewrap beside it.
func memory(sb, work string) {
	// RSS counts the pages of the binary both processes map in each of
	// them; PSS divides shared pages among their users, so the sum of PSS
	// is what the sandbox's processes cost the machine together.
	type use struct{ sup, mid, supPss, midPss int }
	measure := func(argv ...string) (u use) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = work
		check(cmd.Start())
		time.Sleep(700 * time.Millisecond)
		u.sup = hwm(cmd.Process.Pid)
		u.supPss = pss(cmd.Process.Pid)
		for _, c := range children(cmd.Process.Pid) {
			if comm(c) != "sleep" {
				u.mid += hwm(c)
				u.midPss += pss(c)
			}
			for _, g := range children(c) {
				if comm(g) != "sleep" {
					u.mid += hwm(g)
					u.midPss += pss(g)
				}
			}
		}
		cmd.Wait()
		return
	}
	a := measure(sb, "--", "sleep", "1.5")
	b := measure("bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "sleep", "1.5")
	fmt.Println("## Memory while `sleep` runs: peak RSS, and PSS (shared pages divided among their users)")
	fmt.Println()
	fmt.Println("| tool | supervisor RSS KiB | inside (init) RSS KiB | total RSS KiB | total PSS KiB |")
	fmt.Println("|---|---:|---:|---:|---:|")
	fmt.Printf("| sandbox | %d | %d | %d | %d |\n", a.sup, a.mid, a.sup+a.mid, a.supPss+a.midPss)
	fmt.Printf("| bubblewrap | %d | %d | %d | %d |\n\n", b.sup, b.mid, b.sup+b.mid, b.supPss+b.midPss)
}

// pss is the process's proportional set size in KiB (smaps_rollup).
func pss(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Pss:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

func hwm(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// concurrent starts n sandboxes at once.
func concurrent(sb string, n int) {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	var firstErr string
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(sb, "--", "/bin/true").CombinedOutput()
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == "" {
					firstErr = strings.TrimSpace(string(out)) + " " + err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("## Many at once: %d sandboxes started together\n\n", n)
	fmt.Printf("total %.2f s, %d failed %s\n", time.Since(start).Seconds(), failed, firstErr)
}
