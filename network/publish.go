package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Port is one -p/--publish: a host address and port forwarded to a port on
// the sandbox's 127.0.0.1.
type Port struct {
	HostIP   string // "" listens on every address of the host
	HostPort int    // 0: one the kernel picks (Publish fills it in)
	Port     int
	Proto    string // "tcp" or "udp"
}

func (p Port) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto)
	if p.HostPort == 0 {
		s = fmt.Sprintf(":%d/%s", p.Port, p.Proto)
		if p.HostIP == "" {
			return s[1:]
		}
	}
	switch {
	case p.HostIP == "":
		return s
	case strings.Contains(p.HostIP, ":"):
		return "[" + p.HostIP + "]:" + s
	}
	return p.HostIP + ":" + s
}

// ParsePorts reads [IP:]HOSTPORT:PORT[/tcp|/udp] (an IPv6 address in
// brackets), as podman's and docker's -p do; HOSTPORT and PORT may be ranges
// of the same length (8000-8009:9000-9009), which give one Port each. PORT
// alone, or IP::PORT, leaves the host port to the kernel (HostPort 0).
func ParsePorts(spec string) ([]Port, error) {
	bad := func(why string) ([]Port, error) {
		return nil, fmt.Errorf("--publish %q: %s; want [IP:]HOSTPORT:PORT[/tcp|/udp], e.g. 8080:80", spec, why)
	}
	proto, hostIP := "tcp", ""
	s := spec
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		proto = s[i+1:]
		s = s[:i]
		if proto != "tcp" && proto != "udp" {
			return bad("the protocol is tcp or udp")
		}
	}
	i := strings.LastIndexByte(s, ':')
	alone := i < 0 // PORT alone: any host port
	if alone {
		s = ":" + s
		i = 0
	}
	inside := s[i+1:]
	s = s[:i]
	host := s
	if j := strings.LastIndexByte(s, ':'); j >= 0 {
		ip := s[:j]
		host = s[j+1:]
		if strings.HasPrefix(ip, "[") && strings.HasSuffix(ip, "]") {
			ip = ip[1 : len(ip)-1]
		}
		a := net.ParseIP(ip)
		if a == nil {
			return bad(fmt.Sprintf("%q is not an IP address", ip))
		}
		hostIP = a.String()
	}
	iFirst, iLast, err := portRange(inside)
	if err != nil {
		return bad("port inside: " + err.Error())
	}
	if host == "" {
		if !alone && hostIP == "" {
			return bad("a host port, or an IP address before \"::\", is needed")
		}
		var ports []Port
		for k := iFirst; k <= iLast; k++ {
			ports = append(ports, Port{HostIP: hostIP, Port: k, Proto: proto})
		}
		return ports, nil
	}
	hFirst, hLast, err := portRange(host)
	if err != nil {
		return bad("host port: " + err.Error())
	}
	if hLast-hFirst != iLast-iFirst {
		return bad(fmt.Sprintf("the host range %q and the range inside %q differ in length", host, inside))
	}
	ports := make([]Port, 0, hLast-hFirst+1)
	for k := 0; k <= hLast-hFirst; k++ {
		ports = append(ports, Port{HostIP: hostIP, HostPort: hFirst + k, Port: iFirst + k, Proto: proto})
	}
	return ports, nil
}

// portRange reads PORT or FIRST-LAST.
func portRange(s string) (first, last int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if first, err = portNumber(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	if last, err = portNumber(b); err != nil {
		return 0, 0, err
	}
	if last < first {
		return 0, 0, fmt.Errorf("the range %q runs backwards", s)
	}
	return first, last, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a port (1 to 65535)", s)
	}
	return n, nil
}

// Dialer connects to 127.0.0.1:port inside the sandbox and returns the
// socket (userns.Aux.Dial).
type Dialer func(proto string, port int) (*os.File, error)

// Published holds the host's end of the published ports: listening sockets
// in the parent, which lives exactly as long as the sandbox, so no forwarder
// process can be left behind. Not rootlesskit's builtin port driver: linking
// it (its port package imports net/http) costs every start ~5 ms in package
// initialisation, with or without -p; this is the same design — the parent
// listens and accepts, a process inside the namespace connects and passes the
// socket back over a unix socket — in a few lines, with init as that process.
type Published struct {
	ports []Port
	tcp   []net.Listener
	udp   []*net.UDPConn
	log   io.Writer
	once  sync.Once
	done  chan struct{}
	// maxPending caps each TCP port's connections in flight (see
	// publish_pending.go).
	maxPending int
}

// Publish listens on every host port now, before the command starts, so that
// a port in use or one only root may bind is a one-line error and exit 125.
func Publish(ports []Port, log io.Writer) (*Published, error) {
	p := &Published{ports: append([]Port(nil), ports...), log: log, done: make(chan struct{}), maxPending: maxPending}
	for _, pt := range ports {
		addr := net.JoinHostPort(pt.HostIP, strconv.Itoa(pt.HostPort))
		var err error
		if pt.Proto == "udp" {
			var c net.PacketConn
			c, err = net.ListenPacket("udp", addr)
			if err == nil {
				p.udp = append(p.udp, c.(*net.UDPConn))
			}
		} else {
			var l net.Listener
			l, err = net.Listen("tcp", addr)
			if err == nil {
				p.tcp = append(p.tcp, l)
			}
		}
		if err != nil {
			p.Close()
			return nil, listenError(pt, err)
		}
	}
	// The ports the kernel picked, in order.
	ti, ui := 0, 0
	for i := range p.ports {
		if p.ports[i].Proto == "udp" {
			p.ports[i].HostPort = p.udp[ui].LocalAddr().(*net.UDPAddr).Port
			ui++
		} else {
			p.ports[i].HostPort = p.tcp[ti].Addr().(*net.TCPAddr).Port
			ti++
		}
	}
	return p, nil
}

// Ports are the published ports, with the host ports the kernel picked.
func (p *Published) Ports() []Port { return p.ports }

func listenError(p Port, err error) error {
	spec := p.String()
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("--publish %s: host port %d/%s is already in use; fix: choose another host port", spec, p.HostPort, p.Proto)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		start := unprivilegedPortStart()
		return fmt.Errorf("--publish %s: host port %d is below %d, which only root may bind; fix: use a host port of %d or above, e.g. -p %d:%d",
			spec, p.HostPort, start, start, p.HostPort+8000, p.Port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("--publish %s: %s is not an address of this host; fix: leave the address out to listen on all", spec, p.HostIP)
	}
	return fmt.Errorf("--publish %s: %v", spec, err)
}

func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 1024
}

// Serve forwards what arrives on the host ports to the sandbox through dial,
// until Close.
func (p *Published) Serve(dial Dialer) {
	ti, ui := 0, 0
	for _, pt := range p.ports {
		if pt.Proto == "udp" {
			go p.serveUDP(p.udp[ui], pt, dial)
			ui++
		} else {
			go p.serveTCP(p.tcp[ti], pt, dial)
			ti++
		}
	}
}

// Close stops listening; connections in flight end with the sandbox.
func (p *Published) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		close(p.done)
		for _, l := range p.tcp {
			l.Close()
		}
		for _, c := range p.udp {
			c.Close()
		}
	})
}

func (p *Published) serveTCP(l net.Listener, pt Port, dial Dialer) {
	gate := &pendingGate{pt: pt, max: p.maxPending, log: p.log}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !gate.enter() {
			refuse(c)
			continue
		}
		go func() {
			defer c.Close()
			f, err := dial("tcp", pt.Port)
			gate.leave()
			if err != nil {
				fmt.Fprintf(p.log, "sandbox: --publish %s: %v\n", pt, err)
				return
			}
			in, err := net.FileConn(f)
			f.Close()
			if err != nil {
				return
			}
			defer in.Close()
			splice(c, in)
		}()
	}
}

// splice copies both ways, passing each side's end of stream on as a
// half-close, until both are done.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	one := func(to, from net.Conn) {
		_, _ = io.Copy(to, from)
		if cw, ok := to.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go one(a, b)
	go one(b, a)
	<-done
	<-done
}

// udpIdle ends a UDP flow that has had no reply from inside for this long
// (conntrack's UDP timeouts are of this order).
const udpIdle = 60 * time.Second

// serveUDP keeps one connected socket inside per client address, so that
// replies find their way back to the client that asked.
func (p *Published) serveUDP(c *net.UDPConn, pt Port, dial Dialer) {
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			mu.Lock()
			for _, f := range flows {
				f.Close()
			}
			mu.Unlock()
			return
		}
		key := from.String()
		mu.Lock()
		in := flows[key]
		mu.Unlock()
		if in == nil {
			f, err := dial("udp", pt.Port)
			if err != nil {
				fmt.Fprintf(p.log, "sandbox: --publish %s: %v\n", pt, err)
				continue
			}
			in, err = net.FileConn(f)
			f.Close()
			if err != nil {
				continue
			}
			mu.Lock()
			flows[key] = in
			mu.Unlock()
			go func(in net.Conn, to *net.UDPAddr) {
				defer func() {
					mu.Lock()
					delete(flows, to.String())
					mu.Unlock()
					in.Close()
				}()
				rb := make([]byte, 65536)
				for {
					_ = in.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := in.Read(rb)
					if err != nil {
						return
					}
					if _, err := c.WriteToUDP(rb[:n], to); err != nil {
						return
					}
				}
			}(in, from)
		}
		_, _ = in.Write(buf[:n])
	}
}
