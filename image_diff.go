package main

import (
	"context"
	"errors"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"sandbox/layers"
	"sandbox/userns"
)

// mappedReadEnv marks `sandbox diff` run again by diffMapped, as root of a
// user namespace with the image map: it waits for its map (fd 3), then diffs.
const mappedReadEnv = "_SANDBOX_MAPPED_READ"

// diffMapped runs this diff again as root of a user namespace with the image
// map and CAP_DAC_READ_SEARCH, when the sandbox runs on an image and the user
// has sub-IDs: what a command wrote there as another ID of the image (apt's
// _apt makes var/cache/apt/archives/partial, mode 0700) belongs to a sub-ID on
// the host, and neither its upper nor the image's layers may be read by the
// user. ran is false where the diff is to run here: in the re-run, or for a
// sandbox that needs none. code is the re-run's exit status; it printed its
// own error.
func (d *DiffCmd) diffMapped(sb *layers.Sandbox) (code int, ran bool, err error) {
	if os.Getenv(mappedReadEnv) == "1" {
		// The re-run. Not by its uid: that is the overflow ID until the
		// parent has written the map, which WaitMapped waits for.
		os.Unsetenv(mappedReadEnv)
		userns.WaitMapped()
		return 0, false, nil
	}
	if !onImage(sb) {
		return 0, false, nil
	}
	maps, err := planMapsQuiet("auto", uint32(os.Getuid()), uint32(os.Getgid()))
	if err != nil || maps.NewUIDMap == "" {
		// Without sub-IDs every file of the image and of its runs is ours.
		return 0, false, nil
	}
	args := []string{"sandbox", "diff"}
	if d.Stat {
		args = append(args, "--stat")
	}
	if d.Patch {
		args = append(args, "-p")
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: append(args, d.Name),
		Env:    append(os.Environ(), mappedReadEnv+"=1"),
		Stdout: os.Stdout, Stderr: os.Stderr,
	}
	// Reading only: no right to write or chown is kept.
	if err := userns.StartMapped(context.Background(), maps, cmd, []uintptr{unix.CAP_DAC_READ_SEARCH}); err != nil {
		return 0, true, err
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode(), true, nil
	}
	return 0, true, err
}

// onImage reports a sandbox with a layer over an image's (a stacked layer).
func onImage(sb *layers.Sandbox) bool {
	ls, _ := sb.Layers()
	for _, l := range ls {
		if len(l.Lowers) > 0 {
			return true
		}
	}
	return false
}
