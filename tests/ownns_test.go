package tests

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// inOwnMountNS runs script (sh) in dir as root of a user and mount namespace
// of the test's own, mapped to the test's user, where it may mount a small
// filesystem to run sandbox on (sandbox then takes --map single: the setuid
// ID helpers do not hold there). MOUNT (mount(8)) and BIN are in its
// environment, with env. A script that exits 99 says the mount it needs is
// refused there: the test skips, naming it.
func inOwnMountNS(t *testing.T, dir, script string, env ...string) result {
	t.Helper()
	mount, err := exec.LookPath("mount")
	if err != nil {
		t.Skipf("requires mount(8): %v", err)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "MOUNT="+mount, "BIN="+bin, "SANDBOX_CONFIG=/dev/null"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if cmd.ProcessState.ExitCode() == 99 {
		t.Skipf("requires the mount in a user namespace: %s", errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode(), cmd.Process.Pid}
}
