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

// StartMapped starts cmd in a new user namespace (only that: the host's mounts
// and network stay) with maps, keeping caps across its exec whatever its IDs
// are. Its IDs are mapped when StartMapped returns; before, the command runs
// as the overflow ID, so it must call WaitMapped first. fd 3 of the command is
// the sync pipe WaitMapped reads; cmd.ExtraFiles follow from fd 4.
// This is how the remover and sandbox-image act as root over files of the
// user's sub-IDs (podman unshare).
//
// Runs in the parent. On error nothing is left running.
func StartMapped(ctx context.Context, maps IDMaps, cmd *exec.Cmd, caps []uintptr) error {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create sync pipe: %w", err)
	}
	defer syncW.Close()
	cmd.ExtraFiles = append([]*os.File{syncR}, cmd.ExtraFiles...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.AmbientCaps = caps
	if !maps.useHelpers() {
		cmd.SysProcAttr.UidMappings = toSys(maps.UID)
		cmd.SysProcAttr.GidMappings = toSys(maps.GID)
	}
	err = cmd.Start()
	syncR.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", cmd.Args[0], err)
	}
	if maps.useHelpers() {
		if err := idmap.Apply(ctx, maps.NewUIDMap, maps.NewGIDMap, cmd.Process.Pid, maps.UID, maps.GID); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("map IDs for %s: %w", cmd.Args[0], err)
		}
	}
	return nil // syncW closes: the command goes on
}

// WaitMapped is the first thing a command started by StartMapped does: it
// waits until its IDs are mapped (EOF on fd 3).
func WaitMapped() {
	sync := os.NewFile(3, "sync")
	buf := make([]byte, 1)
	_, _ = sync.Read(buf)
	sync.Close()
}
