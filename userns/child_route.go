package userns

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// route is one route of the main table, added over rtnetlink.
type route struct {
	family byte   // AF_INET or AF_INET6
	dst    net.IP // nil: the default route
	dstLen int
	typ    byte   // RTN_UNICAST, RTN_UNREACHABLE
	gw     net.IP // unicast only
	oif    uint32 // unicast only
}

// addRoute sends one RTM_NEWROUTE and waits for its acknowledgement.
//
// Runs in init, which holds CAP_NET_ADMIN over its network namespace.
func addRoute(r route) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(s)
	ne := binary.NativeEndian
	attr := func(b []byte, typ uint16, data []byte) []byte {
		a := make([]byte, 4+len(data), (4+len(data)+3)&^3)
		ne.PutUint16(a[0:], uint16(4+len(data)))
		ne.PutUint16(a[2:], typ)
		copy(a[4:], data)
		return append(b, a[:cap(a)]...)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofRtMsg)
	// struct rtmsg
	rt := msg[unix.NLMSG_HDRLEN:]
	rt[0] = r.family
	rt[1] = byte(r.dstLen)
	rt[4] = unix.RT_TABLE_MAIN
	rt[5] = unix.RTPROT_BOOT
	rt[6] = unix.RT_SCOPE_UNIVERSE
	rt[7] = r.typ
	if r.dst != nil {
		msg = attr(msg, unix.RTA_DST, r.dst)
	}
	if r.gw != nil {
		msg = attr(msg, unix.RTA_GATEWAY, r.gw)
	}
	if r.oif != 0 {
		idx := make([]byte, 4)
		ne.PutUint32(idx, r.oif)
		msg = attr(msg, unix.RTA_OIF, idx)
	}
	// struct nlmsghdr
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.RTM_NEWROUTE)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	ne.PutUint32(msg[8:], 1) // sequence number
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq != 1 {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("netlink reply: short error message")
			}
			if errno := int32(ne.Uint32(m.Data)); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil // the acknowledgement
		}
	}
}

// blockHostAddrs makes each of the host's own addresses unreachable from the
// sandbox (a route of type unreachable, /32 or /128): a service the host
// binds to every address would otherwise answer there through the user-mode
// stack, which connects from the host. The command cannot remove the routes
// without CAP_NET_ADMIN, which it does not get by default; --allow-host-
// loopback leaves them out.
func blockHostAddrs(addrs []string) error {
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil {
			continue
		}
		r := route{family: unix.AF_INET6, dst: ip.To16(), dstLen: 128, typ: unix.RTN_UNREACHABLE}
		if v4 := ip.To4(); v4 != nil {
			r = route{family: unix.AF_INET, dst: v4, dstLen: 32, typ: unix.RTN_UNREACHABLE}
		}
		if err := addRoute(r); err != nil && err != unix.EEXIST {
			return fmt.Errorf("block host address %s: %w", a, err)
		}
	}
	return nil
}
