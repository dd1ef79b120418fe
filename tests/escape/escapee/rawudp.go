package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// rawUDP writes a hand-built IPv4/UDP packet through a packet socket on
// args[0] (IFACE), addressed to the default gateway's MAC but to the IP
// args[1] (DSTIP) and port args[2], carrying args[3]: what root inside (with
// CAP_NET_RAW) can put on the wire that the kernel's own stack never would,
// such as UDP to 0.0.0.0 or 127.0.0.1. It sends the packet 5 times, 50 ms
// apart, and prints "rawudp OK" once they were all written: the test decides
// from what arrived (or not) whether the user-mode stack let it through.
func rawUDP(args []string) {
	if len(args) != 4 {
		say("rawudp", fmt.Errorf("usage: rawudp IFACE DSTIP PORT PAYLOAD"))
		return
	}
	say("rawudp", sendRawUDP(args[0], args[1], args[2], []byte(args[3])))
}

func sendRawUDP(iface, dstArg, portArg string, payload []byte) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	dst := net.ParseIP(dstArg).To4()
	if dst == nil {
		return fmt.Errorf("%q is not an IPv4 address", dstArg)
	}
	port, err := strconv.ParseUint(portArg, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q: %w", portArg, err)
	}
	src, err := ifaceIPv4(ifi)
	if err != nil {
		return err
	}
	gw, err := defaultGateway(iface)
	if err != nil {
		return err
	}
	mac, err := gatewayMAC(iface, gw)
	if err != nil {
		return err
	}

	var r [4]byte
	_, _ = rand.Read(r[:])
	srcPort := 40000 + binary.BigEndian.Uint16(r[:2])%20000
	pkt := ipv4UDP(src, dst, srcPort, uint16(port), binary.BigEndian.Uint16(r[2:]), payload)

	// SOCK_DGRAM: the kernel writes the Ethernet header, to sll_addr, with
	// the EtherType of sll_protocol. Protocol 0: this socket receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], mac)
	for i := range 5 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if err := unix.Sendto(fd, pkt, 0, to); err != nil {
			return err
		}
	}
	return nil
}

// ifaceIPv4 is the interface's first IPv4 address.
func ifaceIPv4(ifi *net.Interface) (net.IP, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("%s has no IPv4 address", ifi.Name)
}

// defaultGateway reads iface's default route from /proc/net/route.
func defaultGateway(iface string) (net.IP, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// Iface Destination Gateway Flags ...
		fl := strings.Fields(s.Text())
		if len(fl) < 3 || fl[0] != iface || fl[1] != "00000000" {
			continue
		}
		// The address in memory (network order), printed as a native word.
		v, err := strconv.ParseUint(fl[2], 16, 32)
		if err != nil {
			continue
		}
		gw := make(net.IP, 4)
		binary.NativeEndian.PutUint32(gw, uint32(v))
		if !gw.Equal(net.IPv4zero) {
			return gw, nil
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no default route via %s in /proc/net/route", iface)
}

// gatewayMAC has the kernel resolve gw (an ordinary UDP datagram to its DNS
// port starts ARP) and reads the answer from /proc/net/arp, waiting up to 3 s.
func gatewayMAC(iface string, gw net.IP) (net.HardwareAddr, error) {
	c, err := net.Dial("udp", net.JoinHostPort(gw.String(), "53"))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for i, end := 0, time.Now().Add(3*time.Second); ; i++ {
		if i%25 == 0 { // again every 500 ms, should a request go unanswered
			_, _ = c.Write([]byte{0})
		}
		time.Sleep(20 * time.Millisecond)
		if mac := arpEntry(iface, gw); mac != nil {
			return mac, nil
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("no ARP entry for the gateway %s on %s", gw, iface)
		}
	}
}

// arpEntry is gw's complete entry (flags 0x2 or more) on iface in
// /proc/net/arp, or nil.
func arpEntry(iface string, gw net.IP) net.HardwareAddr {
	b, err := os.ReadFile("/proc/net/arp")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		// IP address, HW type, Flags, HW address, Mask, Device
		fl := strings.Fields(l)
		if len(fl) < 6 || fl[5] != iface || !net.ParseIP(fl[0]).Equal(gw) {
			continue
		}
		flags, _ := strconv.ParseUint(strings.TrimPrefix(fl[2], "0x"), 16, 8)
		mac, err := net.ParseMAC(fl[3])
		if err != nil || flags&0x2 == 0 || len(mac) != 6 {
			continue
		}
		return mac
	}
	return nil
}

// ipv4UDP builds an IPv4 packet (no options, don't fragment, TTL 64) holding
// one UDP datagram, both checksums computed.
func ipv4UDP(src, dst net.IP, sport, dport, id uint16, payload []byte) []byte {
	const ipLen, udpLen = 20, 8
	p := make([]byte, ipLen+udpLen+len(payload))
	p[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:6], id)
	binary.BigEndian.PutUint16(p[6:8], 0x4000) // DF
	p[8] = 64
	p[9] = unix.IPPROTO_UDP
	copy(p[12:16], src)
	copy(p[16:20], dst)
	binary.BigEndian.PutUint16(p[10:12], checksum(p[:ipLen], 0))

	u := p[ipLen:]
	binary.BigEndian.PutUint16(u[0:2], sport)
	binary.BigEndian.PutUint16(u[2:4], dport)
	binary.BigEndian.PutUint16(u[4:6], uint16(udpLen+len(payload)))
	copy(u[udpLen:], payload)
	// The pseudo-header: source, destination, protocol, UDP length.
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i : i+2]))
	}
	sum += unix.IPPROTO_UDP + uint32(len(u))
	c := checksum(u, sum)
	if c == 0 {
		c = 0xffff // 0 would mean "no checksum"
	}
	binary.BigEndian.PutUint16(u[6:8], c)
	return p
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// htons puts v in network byte order, as sockaddr_ll's protocol wants it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
