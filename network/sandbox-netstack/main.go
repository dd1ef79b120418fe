// Command sandbox-netstack is the user-mode network stack of
// `sandbox --net gvisor`: gvisor-tap-vsock's virtual network (a gateway that
// turns the sandbox's TCP and UDP flows into ordinary sockets of the host, and
// a DNS forwarder) bridged to the sandbox's tap device.
//
// sandbox's parent process starts it in the host's namespaces, as the
// unprivileged user, with the tap that the sandbox's init created inside the
// sandbox's network namespace:
//
//	sandbox-netstack --mtu N --cidr 10.0.2.0/24 [--allow-host-loopback] [--verbose]
//	fd 3: the tap (IFF_TAP|IFF_NO_PI; the sandbox is .100, its route via .2)
//	fd 4: ready pipe: one byte once the stack serves, then closed
//	fd 5: exit pipe: EOF (sandbox died, even by SIGKILL) ends this process
//
// It is a separate binary because linking gvisor-tap-vsock into sandbox made
// every start-up pay for the package inits of gvisor and gopacket/layers (~21
// ms per process): `sandbox -- true` went from ~60 ms to ~122 ms. Only --net
// gvisor pays for it, here. The host's loopback: see filter.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"github.com/containers/gvisor-tap-vsock/pkg/virtualnetwork"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// gatewayMAC is locally administered (bit 1 of the first byte): fixed, so the
// sandbox's neighbour entry is the same on every run.
const gatewayMAC = "5a:94:ef:e4:0c:dd"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-netstack: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
}

func run() error {
	mtu := flag.Int("mtu", 65520, "MTU of the tap and the virtual network")
	cidr := flag.String("cidr", "10.0.2.0/24", "IPv4 subnet; the gateway and DNS are .2, the sandbox .100")
	allowLoopback := flag.Bool("allow-host-loopback", false, "let the sandbox reach the host's 127.0.0.1 through the gateway address")
	verbose := flag.Bool("verbose", false, "log gvisor-tap-vsock's messages to stderr")
	check := flag.String("check-confinement", "", "for the tests: confine, then try to read FILE, write beside it and run a program")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if *check != "" {
		return selfCheck(*check)
	}

	// First of all: whatever happens next, we go when sandbox goes.
	exitPipe := os.NewFile(5, "exit pipe")
	go func() {
		_, _ = io.Copy(io.Discard, exitPipe)
		os.Exit(0)
	}()

	if *verbose {
		logrus.SetOutput(os.Stderr)
		logrus.SetLevel(logrus.DebugLevel)
	} else {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
	}
	if *mtu < 68 || *mtu > 65521 {
		return fmt.Errorf("--mtu %d: want 68 to 65521", *mtu)
	}
	_, subnet, err := net.ParseCIDR(*cidr)
	if err != nil || subnet.IP.To4() == nil {
		return fmt.Errorf("--cidr %q: want an IPv4 subnet such as 10.0.2.0/24", *cidr)
	}
	if ones, _ := subnet.Mask.Size(); ones > 25 {
		return fmt.Errorf("--cidr %q: too small for the sandbox's address .100; want /25 or larger", *cidr)
	}
	base := subnet.IP.To4()
	gw := net.IPv4(base[0], base[1], base[2], base[3]+2).To4()

	if err := checkTap(3); err != nil {
		return err
	}
	tap := os.NewFile(3, "tap")

	cfg := &types.Configuration{
		MTU:               *mtu,
		Subnet:            subnet.String(),
		GatewayIP:         gw.String(), // also where its DNS forwarder listens (UDP and TCP 53)
		GatewayMacAddress: gatewayMAC,
		// No cloud metadata service (169.254.169.254) for the sandbox.
		Ec2MetadataAccess: false,
	}
	if *allowLoopback {
		cfg.NAT = map[string]string{gw.String(): "127.0.0.1"}
	}
	vn, err := virtualnetwork.New(cfg)
	if err != nil {
		return fmt.Errorf("create virtual network: %w", err)
	}

	// The bridge: a datagram socket pair, one Ethernet frame per datagram,
	// which gvisor-tap-vsock speaks as its "vfkit" protocol.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create socket pair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "bridge")
	theirsFile := os.NewFile(uintptr(fds[1]), "bridge")
	theirs, err := net.FileConn(theirsFile)
	theirsFile.Close()
	if err != nil {
		return fmt.Errorf("bridge socket: %w", err)
	}

	failed := make(chan error, 3)
	go func() {
		failed <- fmt.Errorf("virtual network: %w", vn.AcceptVfkit(context.Background(), theirs))
	}()
	f := filter{gateway: gw, allowLoopback: *allowLoopback, host: hostAddrs()}
	frameSize := *mtu + 14 // Ethernet header; IFF_NO_PI: no packet information before it
	go func() { failed <- copyFrames(ours, tap, frameSize, f.blocked, "read tap") }()
	go func() { failed <- copyFrames(tap, ours, frameSize, nil, "read from virtual network") }()

	// Everything is open: from here on this process needs sockets, not files.
	if err := confine(); err != nil {
		return fmt.Errorf("confine: %w", err)
	}
	ready := os.NewFile(4, "ready pipe")
	if _, err := ready.Write([]byte{1}); err != nil {
		return fmt.Errorf("write ready pipe: %w", err)
	}
	ready.Close()
	return <-failed
}

// checkTap makes sure fd is a tap without packet information: what the
// framing above assumes.
func checkTap(fd int) error {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		return fmt.Errorf("fd %d is not a tun/tap device: %w", fd, err)
	}
	if fl := ifr.Uint16(); fl&unix.IFF_TAP == 0 || fl&unix.IFF_NO_PI == 0 {
		return fmt.Errorf("fd %d (%s) is not a tap with IFF_NO_PI (flags %#x)", fd, ifr.Name(), fl)
	}
	return nil
}

// copyFrames copies one frame per read from src to dst, dropping those that
// drop says to. Only a read error ends it: a write can fail for one frame (the
// sandbox set tap0 down, a full buffer) and the next may pass.
func copyFrames(dst io.Writer, src io.Reader, size int, drop func([]byte) bool, what string) error {
	buf := make([]byte, size)
	for {
		n, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if drop != nil && drop(buf[:n]) {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			logrus.Debugf("%s: drop frame: %v", what, err)
		}
	}
}

// filter keeps the host's loopback out of reach. What gvisor-tap-vsock v0.8.9
// does by default (read in pkg/virtualnetwork, pkg/services/forwarder and
// pkg/tap, and tried):
//   - Its TCP and UDP forwarders net.Dial, on the host, whatever destination
//     address the sandbox's packet carries (the stack is promiscuous); only
//     Configuration.NAT rewrites it first, and only 169.254.0.0/16 is refused
//     (unless Ec2MetadataAccess). No NAT entry is set by default, so nothing
//     maps the gateway to 127.0.0.1 unless asked; but a connection to the
//     gateway on a port other than DNS is dialled to the gateway's address on
//     the host's own network (with the default subnet inside a QEMU VM, the
//     VM host's 10.0.2.2, which QEMU maps to its own loopback).
//   - gvisor drops packets to 127.0.0.0/8 arriving on the NIC (ipv4
//     AllowExternalLoopbackTraffic is false) and TCP to 0.0.0.0, but not UDP
//     to 0.0.0.0: the UDP forwarder dials "0.0.0.0:port", which on Linux is
//     the host's loopback. The sandbox's kernel never sends that to the tap,
//     but root inside keeps CAP_NET_RAW and can write any frame through a
//     packet socket: tried, a raw UDP datagram to 0.0.0.0 reached a listener
//     on the host's 127.0.0.1 until blocked below.
//   - The HTTP services (port forwarding by /forwarder/expose, /tunnel to any
//     address, stats, leases) exist only as an http.Handler
//     (VirtualNetwork.Mux); nothing listens unless the embedder serves it. We
//     do not, and set no Forwards (no listener on the host). DHCP and DNS
//     listen inside the virtual network only, on the gateway. The DNS
//     forwarder resolves with Go's resolver on the host: the host's
//     /etc/resolv.conf (which may name a resolver on the host's loopback, the
//     one loopback service the sandbox can use, through DNS) and /etc/hosts.
//
// So frames from the sandbox are filtered before the stack sees them: IPv4 to
// 0.0.0.0/8 or 127.0.0.0/8 always, and TCP or UDP to the gateway other than
// DNS unless --allow-host-loopback, which adds the NAT entry gateway ->
// 127.0.0.1 (the gateway's DNS port stays the DNS forwarder's).
type filter struct {
	gateway       net.IP // 4 bytes
	allowLoopback bool
	// host holds the host's own IPv4 addresses: a service the host binds
	// to every address would answer there (the stack connects from the
	// host). Dropped unless allowLoopback, even for frames a root inside
	// crafts by hand.
	host map[[4]byte]bool
}

// hostAddrs lists the host's own IPv4 addresses.
func hostAddrs() map[[4]byte]bool {
	out := map[[4]byte]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				out[[4]byte(v4)] = true
			}
		}
	}
	return out
}

// blocked says whether a frame from the sandbox must not reach the stack (see
// filter). Only IPv4 matters: the stack has no IPv6 and drops other types.
func (f filter) blocked(frame []byte) bool {
	const eth = 14
	if len(frame) < eth || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return false
	}
	ip := frame[eth:]
	if len(ip) < 20 {
		return true
	}
	dst := ip[16:20]
	if dst[0] == 0 || dst[0] == 127 {
		return true
	}
	if f.allowLoopback {
		return false
	}
	if f.host[[4]byte(dst)] {
		return true
	}
	if !bytes.Equal(dst, f.gateway) {
		return false
	}
	if proto := ip[9]; proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP {
		return false
	}
	// A fragment may not carry the ports (or could overwrite them when
	// reassembled); DNS over this MTU is never fragmented.
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return true
	}
	hl := int(ip[0]&0x0f) * 4
	if hl < 20 || len(ip) < hl+4 {
		return true
	}
	return binary.BigEndian.Uint16(ip[hl+2:hl+4]) != 53
}
