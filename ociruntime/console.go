package ociruntime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/userns"
)

// A terminal (process.terminal) is a pty of the container's own devpts,
// made by init; its master goes to the caller's console socket as runc
// sends it: one message on a connection to the socket, the descriptor in
// its control data (SCM_RIGHTS) and a name as its payload. conmon and
// containerd's shim keep the descriptor.

// checkConsole applies runc's rule: a terminal needs a console socket to
// go to, and a console socket is only for a terminal.
func checkConsole(terminal bool, socket string) error {
	switch {
	case terminal && socket == "":
		return errors.New("process.terminal: a terminal needs --console-socket to send its master to")
	case !terminal && socket != "":
		return errors.New("--console-socket: only for a process with process.terminal set")
	}
	return nil
}

// passConsole asks the created init at door for the command's terminal and
// sends its master to the console socket.
func passConsole(door, socket string) error {
	master, err := userns.RequestConsole(door, startTimeout)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer master.Close()
	return sendConsole(socket, master)
}

// sendConsole sends master to the console socket at path.
func sendConsole(path string, master *os.File) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(startTimeout))
	if _, _, err := c.WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("--console-socket: send the terminal: %w", err)
	}
	return nil
}
