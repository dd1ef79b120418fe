package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// phaseNames are the steps of one container's life as conmon drives them.
var phaseNames = []string{"create", "start", "start to exit", "delete", "total"}

// ociPhases times the runtimes alone, without podman: create, start, the
// command's run until init exits, delete, as root of a user namespace with
// the user's sub-IDs (podman's situation, no user namespace in config.json),
// the runtimes in turn each round.
func ociPhases(work string, runs int, runtimes []string, names []string) {
	bundle := filepath.Join(work, "oci-bundle")
	check(os.MkdirAll(bundle, 0o755))
	// runc's own template: the namespaces and mounts podman's config has.
	spec := exec.Command(runtimes[0], "spec")
	spec.Dir = bundle
	if out, err := spec.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: runc spec: %v: %s\n", err, out)
		return
	}
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	check(err)
	check(json.Unmarshal(b, &cfg))
	proc := cfg["process"].(map[string]any)
	proc["terminal"], proc["args"] = false, []string{"true"}
	// The image's rootfs (runc refuses a symlink for it).
	cfg["root"].(map[string]any)["path"] = filepath.Join(work, "oci-rootfs")
	b, _ = json.Marshal(cfg)
	check(os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644))

	self, err := os.Executable()
	check(err)
	args := []string{"--map-auto", "--map-root-user", self, "-oci-loop", bundle, "-runs", strconv.Itoa(runs)}
	cmd := exec.Command("unshare", append(args, runtimes...)...)
	cmd.Dir, cmd.Stderr = work, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: the runtimes alone: %v\n", err)
		return
	}
	var times [][][]float64 // runtime, phase, runs
	check(json.Unmarshal(out, &times))
	fmt.Println("## OCI runtime alone: create, start, exit, delete of `true`, as root of a sub-ID user namespace, interleaved")
	fmt.Println()
	fmt.Println("| runtime | " + strings.Join(phaseNames, " p50 ms | ") + " p50 ms | total p90 ms | total ratio to runc (p50) |")
	fmt.Println("|---|" + strings.Repeat("---:|", len(phaseNames)+2))
	var base float64
	for i, rt := range times {
		fmt.Printf("| %s |", names[i])
		for _, t := range rt {
			sort.Float64s(t)
			fmt.Printf(" %.1f |", t[len(t)/2]*1e3)
		}
		tot := rt[len(rt)-1]
		if i == 0 {
			base = tot[len(tot)/2]
		}
		fmt.Printf(" %.1f | %.2f |\n", tot[len(tot)*9/10]*1e3, tot[len(tot)/2]/base)
	}
	fmt.Println()
}

// ociLoop is the inside of ociPhases: it runs in the user namespace, a
// subreaper as conmon is, so each container's init becomes its child once
// create exits, and prints the times as JSON.
func ociLoop(bundle string, runs int) {
	runtimes := flag.Args()
	check(unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	state, err := os.MkdirTemp(bundle, "state-")
	check(err)
	defer os.RemoveAll(state)
	times := make([][][]float64, len(runtimes))
	for i := range times {
		times[i] = make([][]float64, len(phaseNames))
	}
	step := func(rt string, args ...string) float64 {
		start := time.Now()
		cmd := exec.Command(rt, append([]string{"--root", filepath.Join(state, filepath.Base(rt))}, args...)...)
		// Files, not pipes: init keeps create's stdio.
		cmd.Stdin, cmd.Stdout = nil, nil
		out, err := cmd.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s %s: %v: %s\n", rt, args[0], err, out)
			os.Exit(1)
		}
		return time.Since(start).Seconds()
	}
	for round := -2; round < runs; round++ {
		for k := range runtimes {
			i := k
			if round%2 != 0 {
				i = len(runtimes) - 1 - k
			}
			rt, id := runtimes[i], fmt.Sprintf("bench-%d", round+2)
			pidFile := filepath.Join(state, id+".pid")
			var ph []float64
			start := time.Now()
			ph = append(ph, stepDetached(rt, state, id, bundle, pidFile))
			pid := readPid(pidFile)
			ph = append(ph, step(rt, "start", id))
			t := time.Now()
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
					break
				}
			}
			ph = append(ph, time.Since(t).Seconds())
			ph = append(ph, step(rt, "delete", id))
			ph = append(ph, time.Since(start).Seconds())
			if round >= 0 {
				for p, v := range ph {
					times[i][p] = append(times[i][p], v)
				}
			}
		}
	}
	check(json.NewEncoder(os.Stdout).Encode(times))
}

// stepDetached runs create with stdin and stdout on /dev/null and stderr in
// a file (init inherits them and outlives create, so a pipe would never
// close) and returns its time.
func stepDetached(rt, state, id, bundle, pidFile string) float64 {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	check(err)
	defer null.Close()
	cmd := exec.Command(rt, "--root", filepath.Join(state, filepath.Base(rt)), "create", "--bundle", bundle, "--pid-file", pidFile, id)
	errf, err := os.CreateTemp(state, "stderr-")
	check(err)
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, errf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(errf.Name())
		fmt.Fprintf(os.Stderr, "bench: %s create: %v: %s\n", rt, err, msg)
		os.Exit(1)
	}
	return time.Since(start).Seconds()
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	check(err)
	return pid
}
