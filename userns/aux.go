package userns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The aux channel is a SOCK_SEQPACKET socket pair between the parent and init
// (init's end is fd 5), beside the JSON pipes of the handshake: descriptors
// cross it (SCM_RIGHTS), one message per packet, each a JSON auxMsg.
//
//	parent -> init:  Dial{ID, Proto, Port}   init connects inside its network
//	                                         namespace and answers with the socket
//	init -> parent:  Dialed{ID, Err} + fd
//	init -> parent:  Tap + fd                the tap device init made (--net gvisor)
//
// Why init dials: a published port must reach a server inside the sandbox's
// network namespace, which the parent (in the host's user namespace) cannot
// enter. Init is already in it, so the parent needs no helper process and the
// forwarding works with every --net mode that has its own namespace, none
// included. Init only connects and hands the socket over; the bytes are copied
// by the parent.
type auxMsg struct {
	Type  string `json:"type"`
	ID    uint64 `json:"id,omitempty"`
	Proto string `json:"proto,omitempty"` // "tcp" or "udp"
	Port  int    `json:"port,omitempty"`
	Err   string `json:"err,omitempty"`
}

const (
	auxDial   = "Dial"
	auxDialed = "Dialed"
	auxTap    = "Tap"
)

// auxFD is init's end of the aux channel.
const auxFD = 5

func newAuxPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create aux socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "aux"), os.NewFile(uintptr(fds[1]), "aux-init"), nil
}

// sendAux sends m, with fd attached when fd >= 0.
func sendAux(c *net.UnixConn, m auxMsg, fd int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recvAux reads one message and the descriptor it carries, if any.
func recvAux(c *net.UnixConn) (auxMsg, *os.File, error) {
	var m auxMsg
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return m, nil, err
	}
	if n == 0 {
		return m, nil, errors.New("aux channel closed")
	}
	var f *os.File
	if oobn > 0 {
		scms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(scms) == 1 {
			if fds, err := unix.ParseUnixRights(&scms[0]); err == nil && len(fds) == 1 {
				unix.CloseOnExec(fds[0])
				f = os.NewFile(uintptr(fds[0]), "aux-fd")
			}
		}
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		if f != nil {
			f.Close()
		}
		return m, nil, fmt.Errorf("decode aux message: %w", err)
	}
	return m, f, nil
}

func fileConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("aux: not a unix socket")
	}
	return uc, nil
}

// Aux is the parent's end of the aux channel. Its methods may be called from
// any goroutine once Run has handed it to Spec.Network.
type Aux struct {
	c       *net.UnixConn
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan dialed
	taps    chan *os.File
	closed  chan struct{}
}

type dialed struct {
	f   *os.File
	err error
}

func newAux(c *net.UnixConn) *Aux {
	a := &Aux{c: c, waiting: map[uint64]chan dialed{}, taps: make(chan *os.File, 1), closed: make(chan struct{})}
	go a.read()
	return a
}

func (a *Aux) read() {
	defer close(a.closed)
	for {
		m, f, err := recvAux(a.c)
		if err != nil {
			a.mu.Lock()
			for id, ch := range a.waiting {
				ch <- dialed{err: errors.New("the sandbox has ended")}
				delete(a.waiting, id)
			}
			a.mu.Unlock()
			return
		}
		switch m.Type {
		case auxDialed:
			a.mu.Lock()
			ch := a.waiting[m.ID]
			delete(a.waiting, m.ID)
			a.mu.Unlock()
			if ch == nil {
				if f != nil {
					f.Close()
				}
				continue
			}
			if m.Err != "" {
				ch <- dialed{err: errors.New(m.Err)}
			} else if f == nil {
				ch <- dialed{err: errors.New("no socket came back")}
			} else {
				ch <- dialed{f: f}
			}
		case auxTap:
			if f != nil {
				select {
				case a.taps <- f:
				default:
					f.Close()
				}
			}
		default:
			if f != nil {
				f.Close()
			}
		}
	}
}

// Dial has init connect to 127.0.0.1:port over proto ("tcp" or "udp") inside
// the sandbox and returns the connected socket.
func (a *Aux) Dial(proto string, port int) (*os.File, error) {
	ch := make(chan dialed, 1)
	a.mu.Lock()
	a.next++
	id := a.next
	a.waiting[id] = ch
	err := sendAux(a.c, auxMsg{Type: auxDial, ID: id, Proto: proto, Port: port}, -1)
	if err != nil {
		delete(a.waiting, id)
	}
	a.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ask init to connect: %w", err)
	}
	r := <-ch
	return r.f, r.err
}

// Tap waits for the tap device init made for a user-mode stack of ours.
func (a *Aux) Tap() (*os.File, error) {
	select {
	case f := <-a.taps:
		return f, nil
	case <-a.closed:
		return nil, errors.New("init ended before it made the tap device")
	}
}

func (a *Aux) close() {
	if a != nil {
		a.c.Close()
	}
}
