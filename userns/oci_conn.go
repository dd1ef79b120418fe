package userns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// msgConn is one connection to init's control door (the start socket, see
// oci.go): the handshake's messages, one JSON object a line, with
// descriptors riding on a message as SCM_RIGHTS (the caller's stdio for an
// exec, a pty's master back).
type msgConn struct {
	c   *net.UnixConn
	buf []byte
	fds []int // received with the bytes in buf, not yet handed out
}

// Limits on what a peer may send: a request is small (argv and env), and
// at most stdio's three descriptors ride on it.
const (
	maxMsgBytes = 1 << 20
	maxMsgFDs   = 3
)

func newMsgConn(c *net.UnixConn) *msgConn { return &msgConn{c: c} }

// dialDoor connects to init's control door at path (a host path).
func dialDoor(path string) (*msgConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("reach the container's init: %w", err)
	}
	return newMsgConn(c), nil
}

// send writes m, with fds (if any) on its first byte.
func (mc *msgConn) send(m Msg, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	b := encode(m)
	n, _, err := mc.c.WriteMsgUnix(b, oob, nil)
	if err == nil && n < len(b) {
		_, err = mc.c.Write(b[n:])
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// recv reads the next message and the descriptors that came with it, which
// are close-on-exec (Go's ReadMsgUnix asks for MSG_CMSG_CLOEXEC) and the
// caller's to close. exact reads byte by byte, so that nothing after the
// message is taken from the socket: the connection may then be handed to
// another process.
func (mc *msgConn) recv(exact bool) (Msg, []int, error) {
	chunk := make([]byte, 4096)
	if exact {
		chunk = chunk[:1]
	}
	oob := make([]byte, unix.CmsgSpace(4*maxMsgFDs))
	for {
		if i := bytes.IndexByte(mc.buf, '\n'); i >= 0 {
			var m Msg
			err := json.Unmarshal(mc.buf[:i], &m)
			mc.buf = append([]byte(nil), mc.buf[i+1:]...)
			fds := mc.fds
			mc.fds = nil
			if err != nil {
				closeFDs(fds)
				return m, nil, fmt.Errorf("decode message: %w", err)
			}
			return m, fds, nil
		}
		if len(mc.buf) > maxMsgBytes {
			return Msg{}, nil, fmt.Errorf("message longer than %d bytes", maxMsgBytes)
		}
		n, oobn, flags, _, err := mc.c.ReadMsgUnix(chunk, oob)
		if oobn > 0 {
			mc.fds = append(mc.fds, parseRights(oob[:oobn])...)
		}
		if flags&unix.MSG_CTRUNC != 0 || len(mc.fds) > maxMsgFDs {
			closeFDs(mc.fds)
			mc.fds = nil
			return Msg{}, nil, errors.New("too many descriptors on a message")
		}
		if n == 0 && err == nil {
			err = io.EOF
		}
		if err != nil {
			return Msg{}, nil, err
		}
		mc.buf = append(mc.buf, chunk[:n]...)
	}
}

// file hands the connection's descriptor over (a dup), for another process.
func (mc *msgConn) file() (*os.File, error) { return mc.c.File() }

func (mc *msgConn) Close() error { return mc.c.Close() }

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
