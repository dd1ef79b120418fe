package userns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"sandbox/idmap"
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
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create sync pipe: %w", err)
	}
	defer syncW.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{"sandbox-rm"}, paths...),
		Env:        []string{StageEnv + "=" + StageRemove},
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{syncR}, // fd 3: closed once the maps are written
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER,
			Pdeathsig:  syscall.SIGKILL,
			// DAC_OVERRIDE and FOWNER across the exec, whatever the IDs.
			AmbientCaps: []uintptr{unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_DAC_READ_SEARCH},
		},
	}
	if !maps.useHelpers() {
		cmd.SysProcAttr.UidMappings = toSys(maps.UID)
		cmd.SysProcAttr.GidMappings = toSys(maps.GID)
	}
	if err := cmd.Start(); err != nil {
		syncR.Close()
		return fmt.Errorf("start remover: %w", err)
	}
	syncR.Close()
	if maps.useHelpers() {
		if err := idmap.Apply(ctx, maps.NewUIDMap, maps.NewGIDMap, cmd.Process.Pid, maps.UID, maps.GID); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("map IDs for the remover: %w", err)
		}
	}
	syncW.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("remove %v in a user namespace: %w", paths, err)
	}
	return nil
}

// Remove is the remover's main: it waits until its IDs are mapped, then
// removes each path given as an argument. It returns the exit status.
func Remove(paths []string) int {
	sync := os.NewFile(3, "sync")
	buf := make([]byte, 1)
	_, _ = sync.Read(buf) // EOF once the parent wrote the maps
	sync.Close()
	status := 0
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: remove %s: %v\n", p, err)
			status = 1
		}
	}
	return status
}
