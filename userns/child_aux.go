package userns

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

// initAux is init's end of the aux channel (see aux.go).
type initAux struct {
	c  *net.UnixConn
	mu sync.Mutex // one sender at a time
}

func openInitAux() *initAux {
	c, err := fileConn(os.NewFile(auxFD, "aux"))
	if err != nil {
		return nil // an old parent, or fd 5 missing: no ports, no watch
	}
	return &initAux{c: c}
}

func (a *initAux) send(m auxMsg, fd int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sendAux(a.c, m, fd)
}

// serve answers the parent's requests until the channel closes.
//
// Why a dial here is safe: init connects only to 127.0.0.1 of the sandbox's
// own network namespace, on a port the user published; the command cannot
// send on this channel (fd 5 is close-on-exec and init is not dumpable).
func (a *initAux) serve() {
	for {
		m, f, err := recvAux(a.c)
		if err != nil {
			return
		}
		switch m.Type {
		case auxDial:
			go a.dial(m)
		default:
			if f != nil {
				f.Close()
			}
		}
	}
}

func (a *initAux) dial(m auxMsg) {
	reply := auxMsg{Type: auxDialed, ID: m.ID}
	if m.Proto != "tcp" && m.Proto != "udp" {
		reply.Err = "unknown protocol " + strconv.Quote(m.Proto)
		_ = a.send(reply, -1)
		return
	}
	c, err := net.Dial(m.Proto, net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port)))
	if err != nil {
		reply.Err = err.Error()
		_ = a.send(reply, -1)
		return
	}
	defer c.Close()
	f, err := c.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		reply.Err = err.Error()
		_ = a.send(reply, -1)
		return
	}
	defer f.Close()
	_ = a.send(reply, int(f.Fd()))
}

// sendTap creates the tap device of t and hands it to the parent.
func (a *initAux) sendTap(t *TapConfig) error {
	f, err := createTap(t.Name, t.MTU, net.ParseIP(t.Addr), t.PrefixLen, net.ParseIP(t.Gateway))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := a.send(auxMsg{Type: auxTap}, int(f.Fd())); err != nil {
		return fmt.Errorf("hand %s to the parent: %w", t.Name, err)
	}
	return nil
}
