package userns

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// StageRemove is the role of a helper that removes directory trees inside a
// user namespace with the sandbox's ID map.
const StageRemove = "rm"

// RemoveAll removes paths from inside a user namespace that maps the caller to
// root and the sub-IDs around it, as the sandbox's does (with maps built for
// inside ID 0). A layer's upper directory holds files the command created as
// other IDs (owned by sub-IDs on the host, which the caller cannot remove); root
// of such a namespace can (podman's `unshare rm` does the same).
//
// Runs in the parent.
func RemoveAll(ctx context.Context, maps IDMaps, paths ...string) error {
	cmd := &exec.Cmd{
		Path:   "/proc/self/exe",
		Args:   append([]string{"sandbox-rm"}, paths...),
		Env:    []string{StageEnv + "=" + StageRemove},
		Stderr: os.Stderr,
	}
	// DAC_OVERRIDE and FOWNER across the exec, whatever the IDs.
	if err := StartMapped(ctx, maps, cmd, []uintptr{unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_DAC_READ_SEARCH}); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("remove %v in a user namespace: %w", paths, err)
	}
	return nil
}

// Remove is the remover's main: it waits until its IDs are mapped, then
// removes each path given as an argument. It returns the exit status.
func Remove(paths []string) int {
	WaitMapped()
	status := 0
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: remove %s: %v\n", p, err)
			status = 1
		}
	}
	return status
}
