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
		msg = netlinkAttr(msg, unix.RTA_DST, r.dst)
	}
	if r.gw != nil {
		msg = netlinkAttr(msg, unix.RTA_GATEWAY, r.gw)
	}
	if r.oif != 0 {
		idx := make([]byte, 4)
		binary.NativeEndian.PutUint32(idx, r.oif)
		msg = netlinkAttr(msg, unix.RTA_OIF, idx)
	}
	return netlinkRequest(unix.RTM_NEWROUTE, msg)
}

// netlinkRequest fills in msg's struct nlmsghdr (type typ, a creating
// request), sends it and waits for its acknowledgement.
func netlinkRequest(typ uint16, msg []byte) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(s)
	ne := binary.NativeEndian
	// struct nlmsghdr
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], typ)
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

// netlinkAttr appends one attribute, padded to 4 bytes, to b.
func netlinkAttr(b []byte, typ uint16, data []byte) []byte {
	a := make([]byte, 4+len(data), (4+len(data)+3)&^3)
	binary.NativeEndian.PutUint16(a[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	copy(a[4:], data)
	return append(b, a[:cap(a)]...)
}

// blockHostAddrs makes each of the host's own addresses unreachable from the
// sandbox: a service the host binds to every address would otherwise answer
// there through the user-mode stack, which connects from the host. Each is a
// routing rule (ip rule add to ADDR prohibit), not a route: a route of type
// unreachable is skipped for a link-local address with a scope (connect to
// fe80::X%tap0 looks up routes of tap0 only, and found fe80::/64 there; pasta
// then connected to the host's fe80::X), while a rule is consulted before any
// table, whatever the interface. After the local table (priority 0), so an
// address that is also the sandbox's own (pasta gives it the host's IPv6
// address) stays its own. Neighbour discovery sends without a route lookup,
// so pasta, whose link-local address inside is the host's, still answers it.
// The command cannot remove the rules without CAP_NET_ADMIN, which it does
// not get by default; --allow-host-loopback leaves them out.
func blockHostAddrs(addrs []string) error {
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil {
			continue
		}
		if err := addProhibitRule(ip); err != nil && err != unix.EEXIST {
			return fmt.Errorf("block host address %s: %w", a, err)
		}
	}
	return nil
}

// blockRulePriority places the rules after the local table's (0) and before
// the main table's (32766).
const blockRulePriority = 100

// addProhibitRule sends one RTM_NEWRULE: to ip (/32 or /128), prohibit
// (EACCES to a sender inside).
func addProhibitRule(ip net.IP) error {
	family, dst := byte(unix.AF_INET6), ip.To16()
	if v4 := ip.To4(); v4 != nil {
		family, dst = unix.AF_INET, v4
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+12)
	// struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1,
	// res2, action, flags (u32).
	h := msg[unix.NLMSG_HDRLEN:]
	h[0] = family
	h[1] = byte(len(dst) * 8)
	h[7] = unix.FR_ACT_PROHIBIT
	msg = netlinkAttr(msg, unix.FRA_DST, dst)
	prio := make([]byte, 4)
	binary.NativeEndian.PutUint32(prio, blockRulePriority)
	msg = netlinkAttr(msg, unix.FRA_PRIORITY, prio)
	return netlinkRequest(unix.RTM_NEWRULE, msg)
}
