package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ociStartup times `podman run --rm IMG true` with sandbox-runc as podman's
// runtime and with runc, run by run in turn (the order swapped each round),
// so that the noise of a shared machine falls on both alike. Issue 18 wants
// sandbox-runc no slower than runc.
func ociStartup(sb, work string, runs int) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		runc = "/usr/sbin/runc" // Debian's, outside an ordinary user's PATH
	}
	if _, err := exec.LookPath("podman"); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no podman: no OCI runtime rows")
		return
	}
	if _, err := os.Stat(runc); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no runc (apt install runc): no OCI runtime rows")
		return
	}
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		fmt.Fprintln(os.Stderr, "bench: XDG_RUNTIME_DIR is not set (rootless podman needs it): no OCI runtime rows")
		return
	}
	img := ociImage(work)
	if img == "" {
		return
	}
	defer exec.Command("podman", "rmi", "-f", img).Run() //nolint:errcheck // best effort
	sbRunc := filepath.Join(filepath.Dir(sb), "sandbox-runc")
	_ = os.Symlink("sandbox", sbRunc)
	podman := func(rt string) []string {
		return []string{"podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", rt,
			"run", "--rm", "--network=none", img, "true"}
	}
	list := []bench{
		{"podman run --runtime runc", strings.Join(podman(runc), " ")},
		{"podman run --runtime sandbox-runc", strings.Join(podman(sbRunc), " ")},
	}
	times := interleaved(work, runs, [][]string{podman(runc), podman(sbRunc)})
	fmt.Println("## OCI runtime: `podman run --rm IMG true` (busybox image, --network=none), interleaved run by run")
	fmt.Println()
	fmt.Println("| runtime | p50 ms | p90 ms | p90/p50 | ratio to runc (p50) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	var base float64
	for i, t := range times {
		if t == nil {
			fmt.Printf("| %s | failed | | | |\n", list[i].name)
			continue
		}
		p50, p90 := t[len(t)/2], t[len(t)*9/10]
		if i == 0 {
			base = p50
		}
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2f", p50/base)
		}
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %s |\n", list[i].name, p50*1e3, p90*1e3, p90/p50, ratio)
	}
	fmt.Println()
	ociPhases(work, runs, []string{runc, sbRunc}, []string{"runc", "sandbox-runc"})
}

// interleaved runs each command once per round, runs rounds after two
// warm-up rounds, swapping the order every round, and returns each command's
// sorted wall times in seconds (nil for a command that failed once).
func interleaved(work string, runs int, cmds [][]string) [][]float64 {
	times := make([][]float64, len(cmds))
	failed := make([]bool, len(cmds))
	for round := -2; round < runs; round++ {
		for k := range cmds {
			i := k
			if round%2 != 0 {
				i = len(cmds) - 1 - k
			}
			if failed[i] {
				continue
			}
			cmd := exec.Command(cmds[i][0], cmds[i][1:]...)
			cmd.Dir = work
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start).Seconds()
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v: %s\n", strings.Join(cmds[i], " "), err, out)
				failed[i] = true
				continue
			}
			if round >= 0 {
				times[i] = append(times[i], d)
			}
		}
	}
	for i := range times {
		if failed[i] {
			times[i] = nil
			continue
		}
		sort.Float64s(times[i])
	}
	return times
}

// ociImage imports a rootfs of Debian's busybox-static into the user's
// podman store and returns its name; "" where there is no busybox.
func ociImage(work string) string {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: no busybox (apt install busybox-static): no OCI runtime rows")
		return ""
	}
	root := filepath.Join(work, "oci-rootfs")
	check(os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc"} {
		check(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	run("cp", bb, filepath.Join(root, "bin", "busybox"))
	check(os.Symlink("busybox", filepath.Join(root, "bin", "true")))
	check(os.Symlink("busybox", filepath.Join(root, "bin", "sh")))
	tarball := filepath.Join(work, "oci-rootfs.tar")
	run("tar", "-C", root, "-cf", tarball, ".")
	name := fmt.Sprintf("localhost/sandbox-bench-oci:%d", time.Now().UnixNano())
	run("podman", "import", "--quiet", tarball, name)
	return name
}
