package userns

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// createTap creates the tap device name in init's network namespace and
// configures it for a user-mode stack that runs outside (--net gvisor): MTU,
// addr/prefixLen, up, default route via gw. It returns the tap's file, which
// carries the sandbox's Ethernet frames to whoever reads it.
//
// Runs in init, before pivot_root: /dev/net/tun is still the host's, and init
// holds CAP_NET_ADMIN over its network namespace (its user namespace owns
// it), which TUNSETIFF and every step after need.
func createTap(name string, mtu int, addr net.IP, prefixLen int, gw net.IP) (*os.File, error) {
	addr4, gw4 := addr.To4(), gw.To4()
	if addr4 == nil || gw4 == nil || prefixLen < 0 || prefixLen > 32 {
		return nil, fmt.Errorf("create %s: want IPv4 addresses and a prefix of 0-32, got %s/%d via %s", name, addr, prefixLen, gw)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	tap := os.NewFile(uintptr(fd), "/dev/net/tun")
	if err := configureTap(fd, name, mtu, addr4, prefixLen, gw4); err != nil {
		tap.Close()
		return nil, err
	}
	return tap, nil
}

func configureTap(tunFD int, name string, mtu int, addr net.IP, prefixLen int, gw net.IP) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	// Attach this fd to a new tap: Ethernet frames (the stack outside speaks
	// Ethernet and answers ARP), without the 4-byte packet information header
	// (IFF_NO_PI), so each read or write is exactly one frame. The device
	// lives as long as an fd to it is open.
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(tunFD, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("create %s (TUNSETIFF): %w", name, err)
	}

	// The SIOCSIF* ioctls go through any socket of the namespace. ifr keeps
	// the name; each setter clears the rest.
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("configure %s: socket: %w", name, err)
	}
	defer unix.Close(sock)
	ioctl := func(what string, req uint) error { // what: "set %s MTU"
		if err := unix.IoctlIfreq(sock, req, ifr); err != nil {
			return fmt.Errorf("%s: %w", fmt.Sprintf(what, name), err)
		}
		return nil
	}
	// The stack's MTU, not the default 1500: the sandbox's TCP sizes its
	// segments (and announces its MSS) by it, and 65520 means far fewer
	// frames, each a read, a copy and a write in the stack's process.
	ifr.SetUint32(uint32(mtu))
	if err := ioctl("set %s MTU", unix.SIOCSIFMTU); err != nil {
		return err
	}
	// The sandbox's address. SIOCSIFADDR gives it a classful mask (10.x: /8),
	// so the netmask follows; that also sets the broadcast address and the
	// subnet's on-link route, through which the gateway is reached.
	if err := ifr.SetInet4Addr(addr); err != nil {
		return fmt.Errorf("set %s address: %w", name, err)
	}
	if err := ioctl("set %s address", unix.SIOCSIFADDR); err != nil {
		return err
	}
	if err := ifr.SetInet4Addr(net.CIDRMask(prefixLen, 32)); err != nil {
		return fmt.Errorf("set %s netmask: %w", name, err)
	}
	if err := ioctl("set %s netmask", unix.SIOCSIFNETMASK); err != nil {
		return err
	}
	// Up: the kernel sends nothing through a down device, and installs the
	// on-link route only once it is up.
	if err := ioctl("get %s flags", unix.SIOCGIFFLAGS); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := ioctl("bring %s up", unix.SIOCSIFFLAGS); err != nil {
		return err
	}
	// Its index, to pin the default route to it.
	if err := ioctl("get %s index", unix.SIOCGIFINDEX); err != nil {
		return err
	}
	index := ifr.Uint32()
	// The default route: everything not on the subnet goes to the stack's
	// gateway, which turns it into the host's sockets.
	if err := addDefaultRoute(index, gw); err != nil {
		return fmt.Errorf("add default route via %s dev %s: %w", gw, name, err)
	}
	return nil
}

// addDefaultRoute adds 0.0.0.0/0 via gw dev index to the main table with one
// rtnetlink RTM_NEWROUTE message (SIOCADDRT would need a hand-laid struct
// rtentry passed by pointer) and reads the kernel's acknowledgement.
func addDefaultRoute(index uint32, gw net.IP) error {
	return addRoute(route{family: unix.AF_INET, typ: unix.RTN_UNICAST, gw: gw.To4(), oif: index})
}
