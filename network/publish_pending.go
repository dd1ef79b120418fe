package network

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// maxPending caps, per published TCP port, the connections accepted on the
// host that are not yet delivered inside: init's connect to 127.0.0.1:PORT
// has not completed, because the command listens but does not accept and its
// listen backlog is full (the kernel inside then drops the handshake and
// init's connect waits, up to about two minutes). Each holds a descriptor in
// sandbox and one in init: without a cap, clients (anyone who reaches the host
// port) could pile them up until sandbox ran out (issue 22: 400 connections,
// 425 descriptors). Beyond the cap a new connection is reset at once, as a
// full backlog would refuse it. 128 is the kernel's old SOMAXCONN: a server
// that accepts at all keeps far fewer waiting, as its connections complete in
// microseconds. A connection the kernel inside has queued counts as delivered;
// the command's own listen backlog bounds those.
const maxPending = 128

// pendingGate counts one published port's connections in flight and refuses
// beyond its cap, saying so (once per stall) on log.
type pendingGate struct {
	pt      Port
	max     int
	log     io.Writer
	mu      sync.Mutex
	n       int // in flight
	refused int // since the gate last had room
}

// enter takes a place for a new connection, or says there is none.
func (g *pendingGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n < g.max {
		g.n++
		return true
	}
	g.refused++
	if g.refused == 1 {
		fmt.Fprintf(g.log, "sandbox: --publish %s: %d connections wait for the sandbox to take them; refusing new ones until it does\n", g.pt, g.n)
	}
	return false
}

// leave gives the place back once the connection inside is made or failed.
func (g *pendingGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.refused > 0 {
		fmt.Fprintf(g.log, "sandbox: --publish %s: the sandbox takes connections again; %d were refused meanwhile\n", g.pt, g.refused)
		g.refused = 0
	}
}

// refuse resets c (RST rather than an orderly close: the client sees that it
// was refused, not an empty answer).
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
