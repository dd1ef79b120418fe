// Command bench measures sandbox side by side with bubblewrap, unshare and
// (where installed) rootless podman, with runc and with sandbox-runc as its
// runtime, in one run on one machine, and prints
// ratios: absolute times on a shared 2-core machine are noise, ratios measured
// together hold. Run it as an unprivileged user from the repository root:
//
//	go run ./tests/bench [-runs 40] [-quick]
//
// It needs hyperfine, bwrap, gcc and make (see tests/bench/README.md).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

type bench struct {
	name, cmd string
}

type result struct {
	name         string
	median, p90  float64 // seconds
	mean, stddev float64
	failed       bool
	note         string
}

func main() {
	runs := flag.Int("runs", 40, "runs per startup command (after 5 warm-up runs)")
	quick := flag.Bool("quick", false, "smaller build workload and fewer runs (a smoke test)")
	only := flag.String("only", "", "run one part: startup, oci, syscalls, build, memory, concurrent")
	loop := flag.String("oci-loop", "", "internal: the runtimes' loop inside the user namespace, on this bundle")
	flag.Parse()
	if *loop != "" {
		ociLoop(*loop, *runs)
		return
	}
	if *quick {
		*runs = 10
	}
	work, err := os.MkdirTemp(filepath.Join(os.Getenv("HOME"), ".cache"), "sandbox-bench-")
	check(err)
	defer os.RemoveAll(work)
	sb := filepath.Join(work, "sandbox")
	// Static, as the README builds them (sandbox-netstack refuses a cgo
	// build: it could not confine all its threads).
	os.Setenv("CGO_ENABLED", "0")
	run("go", "build", "-o", sb, ".")
	// --net gvisor finds its stack next to sandbox.
	run("go", "build", "-o", filepath.Join(work, "sandbox-netstack"), "./network/sandbox-netstack")
	fmt.Printf("# sandbox benchmark, %s, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine())

	parts := []struct {
		name string
		run  func()
	}{
		{"startup", func() { startup(sb, work, *runs) }},
		{"oci", func() { ociStartup(sb, work, *runs) }},
		{"syscalls", func() { syscalls(sb, work) }},
		{"build", func() { build(sb, work, *quick) }},
		{"memory", func() { memory(sb, work) }},
		{"concurrent", func() { concurrent(sb, 50) }},
	}
	for _, p := range parts {
		if *only == "" || *only == p.name {
			p.run()
		}
	}
}

// startup times `true` through each tool.
func startup(sb, work string, runs int) {
	bw := "bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp /bin/true"
	list := []bench{
		{"bare exec", "/bin/true"},
		{"unshare -U -r", "unshare -U -r /bin/true"},
		{"unshare, all namespaces", "unshare -U -r -m -p -i -u -n -C --fork --mount-proc /bin/true"},
		{"unshare --map-auto (newuidmap+newgidmap)", "unshare -U --map-auto --map-root-user /bin/true"},
		{"bubblewrap", bw},
		{"sandbox --map single", sb + " --map single -- /bin/true"},
		{"sandbox (default: overlay in memory, seccomp)", sb + " -- /bin/true"},
		{"sandbox --map subids", sb + " --map subids -- /bin/true"},
		{"sandbox --name (layers on disk)", sb + " --name bench-disk -- /bin/true"},
		{"sandbox --overlay fuse", sb + " --overlay fuse -- /bin/true"},
		{"sandbox --net pasta", sb + " --net pasta -- /bin/true"},
		{"sandbox --net slirp4netns", sb + " --net slirp4netns -- /bin/true"},
		{"sandbox --net gvisor", sb + " --net gvisor -- /bin/true"},
		{"sandbox -p (a published port, --net none)", sb + fmt.Sprintf(" -p 127.0.0.1:%d:80 -- /bin/true", freePort())},
	}
	if exec.Command("systemctl", "--user", "show", "-p", "Version").Run() == nil {
		list = append(list,
			bench{"systemd-run --user --scope", "systemd-run --user --scope --quiet /bin/true"},
			bench{"sandbox --cgroup systemd (a scope)", sb + " --cgroup systemd -- /bin/true"})
	}
	if img := benchImage(sb, work); img != "" {
		// Issue 17: at most 1.2x the plain run above.
		list = append(list, bench{"sandbox --image (busybox, in the store)", sb + " --image " + img + " -- /bin/true"})
		defer exec.Command(sb, "rmi", img).Run() //nolint:errcheck // best effort
		if _, err := exec.LookPath("podman"); err == nil {
			// The same busybox tree as podman's root filesystem (podman
			// cannot take the host's /: it mounts /run/.containerenv
			// into it), with the flags rootless podman works with on
			// hybrid cgroups, as the OCI rows below.
			list = append(list, bench{"podman run --rootfs (busybox, --network=none)",
				"podman --cgroup-manager=cgroupfs --events-backend=file run --rm --network=none --rootfs " +
					filepath.Join(work, "rootfs") + " /bin/true"})
		}
	}
	startupTable("Start-up: `true` through each tool", hyperfine(work, runs, list))

	// The same under disk load: a writer keeps the disk busy with fsync'd
	// writes beside the runs (issue 15: on-disk upper layers wait for a
	// discard per mount and a flush per unmount, and fell to 6-9x).
	stop := diskLoad(work)
	loaded := []bench{
		{"bubblewrap", bw},
		{"sandbox --map single", sb + " --map single -- /bin/true"},
		{"sandbox (default: overlay in memory, seccomp)", sb + " -- /bin/true"},
		{"sandbox --name (layers on disk)", sb + " --name bench-disk -- /bin/true"},
	}
	res := hyperfine(work, runs, loaded)
	stop()
	startupTable("Start-up under disk load (a writer doing fsync'd 64 MiB writes)", res)
	_ = exec.Command(sb, "rm", "bench-disk").Run()
}

// benchImage imports a rootfs of Debian's busybox-static (/bin/true a link
// to it) into the user's image store, and returns its name; "" where there is
// no busybox.
func benchImage(sb, work string) string {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: no busybox (apt install busybox-static): no --image row")
		return ""
	}
	run("go", "build", "-o", filepath.Join(work, "sandbox-image"), "./image/sandbox-image")
	root := filepath.Join(work, "rootfs")
	check(os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	run("cp", bb, filepath.Join(root, "bin", "busybox"))
	check(os.Symlink("busybox", filepath.Join(root, "bin", "true")))
	tarball := filepath.Join(work, "rootfs.tar")
	run("tar", "-C", root, "-cf", tarball, ".")
	const name = "sandbox-bench-busybox"
	run(sb, "import", tarball, name)
	return name
}

// startupTable prints a start-up table with each row's ratio to
// bubblewrap's median, and p90/p50.
func startupTable(title string, res []result) {
	var base float64
	for _, r := range res {
		if r.name == "bubblewrap" {
			base = r.median
		}
	}
	fmt.Println("## " + title)
	fmt.Println()
	fmt.Println("| command | p50 ms | p90 ms | p90/p50 | ratio to bubblewrap (p50) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range res {
		if r.failed {
			fmt.Printf("| %s | failed | | | %s |\n", r.name, r.note)
			continue
		}
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f |\n", r.name, r.median*1e3, r.p90*1e3, r.p90/r.median, r.median/base)
	}
	fmt.Println()
}

// diskLoad starts a writer that keeps the disk of work busy, and returns
// what stops it.
func diskLoad(work string) func() {
	f := filepath.Join(work, "load")
	cmd := exec.Command("sh", "-c", `while :; do dd if=/dev/zero of="$1" bs=1M count=64 conv=fsync 2>/dev/null; done`, "sh", f)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	check(cmd.Start())
	time.Sleep(500 * time.Millisecond)
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // sh and its dd
		_ = cmd.Wait()
		os.Remove(f)
	}
}

// hyperfine runs the list in one hyperfine call (interleaved in time as far
// as hyperfine goes) and reads back medians and the 90th percentile.
func hyperfine(work string, runs int, list []bench) []result {
	out := filepath.Join(work, "hf.json")
	warm := 5
	if runs < 5 {
		warm = 1 // long workloads: one warm-up run
	}
	args := []string{"-N", "-w", fmt.Sprint(warm), "-r", fmt.Sprint(runs), "-i", "--style", "none", "--export-json", out}
	for _, b := range list {
		args = append(args, "-n", b.name, b.cmd)
	}
	cmd := exec.Command("hyperfine", args...)
	// Under $HOME: a sandbox with --cow does not bind the current
	// directory, and the sandbox's /tmp is its own.
	cmd.Dir = work
	cmd.Stderr = os.Stderr
	check(cmd.Run())
	var doc struct {
		Results []struct {
			Command   string    `json:"command"`
			Mean      float64   `json:"mean"`
			Stddev    float64   `json:"stddev"`
			Median    float64   `json:"median"`
			Times     []float64 `json:"times"`
			ExitCodes []int     `json:"exit_codes"`
		} `json:"results"`
	}
	b, err := os.ReadFile(out)
	check(err)
	check(json.Unmarshal(b, &doc))
	var res []result
	for _, r := range doc.Results {
		t := append([]float64(nil), r.Times...)
		sort.Float64s(t)
		x := result{name: r.Command, median: r.Median, mean: r.Mean, stddev: r.Stddev, p90: t[len(t)*9/10]}
		for _, c := range r.ExitCodes {
			if c != 0 {
				x.failed, x.note = true, fmt.Sprintf("exit %d", c)
			}
		}
		res = append(res, x)
	}
	return res
}

func machine() string {
	out, _ := exec.Command("uname", "-sr").Output()
	n, _ := exec.Command("nproc").Output()
	return strings.TrimSpace(string(out)) + ", " + strings.TrimSpace(string(n)) + " cores"
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// freePort is a TCP port of 127.0.0.1 that nothing listens on now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
