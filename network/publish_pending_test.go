package network

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a log that the test reads while the gate writes.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A published port whose connections inside never complete (the command
// does not accept) holds at most maxPending of them; the others are reset at
// once, and the log says so once, then again when the sandbox takes
// connections.
func TestPublishCapsPending(t *testing.T) {
	var log syncBuf
	p, err := Publish([]Port{{HostIP: "127.0.0.1", Port: 80, Proto: "tcp"}}, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const limit, clients = 4, 10
	p.maxPending = limit
	release := make(chan struct{})
	var mu sync.Mutex
	dials := 0
	p.Serve(func(string, int) (*os.File, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		<-release
		return nil, errors.New("the sandbox did not accept")
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Ports()[0].HostPort))
	reset := 0
	var conns []net.Conn
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", addr)
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			reset++ // refused before connect returned
		case err != nil:
			t.Fatal(err)
		default:
			conns = append(conns, c)
		}
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			reset++
		}
	}
	mu.Lock()
	got := dials
	mu.Unlock()
	if got != limit || reset != clients-limit {
		t.Errorf("%d clients, cap %d: %d dials inside and %d reset; want %d and %d", clients, limit, got, reset, limit, clients-limit)
	}
	if n := strings.Count(log.String(), "refusing new ones"); n != 1 {
		t.Errorf("the log says it refuses %d times, want once:\n%s", n, log.String())
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "6 were refused meanwhile") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "takes connections again; 6 were refused meanwhile") {
		t.Errorf("the log does not say the stall ended:\n%s", log.String())
	}
	for _, c := range conns {
		c.Close()
	}
	// Room again: a new connection is dialled inside.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for time.Now().Before(deadline) {
		mu.Lock()
		got = dials
		mu.Unlock()
		if got == limit+1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("after the stall, a new connection was not dialled inside (%d dials)", got)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
