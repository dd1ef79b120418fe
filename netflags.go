package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"sandbox/network"
	"sandbox/userns"
)

// NetFlags choose the sandbox's network.
type NetFlags struct {
	Net               string   `default:"none" aliases:"network" help:"Network: none (only lo, the default), host (the host's network, its abstract Unix sockets too), user (pasta, else slirp4netns, else gvisor), pasta, slirp4netns, gvisor." placeholder:"MODE" group:"Network"`
	ShareNet          bool     `help:"Same as --net host." group:"Network"`
	AllowHostLoopback bool     `help:"In the user modes, let the sandbox reach the host's 127.0.0.1 through the gateway address." group:"Network"`
	MTU               int      `name:"mtu" help:"MTU of the user-mode interface (default 65520)." placeholder:"N" group:"Network"`
	CIDR              string   `name:"cidr" help:"Subnet of the user-mode network (default 10.0.2.0/24: the sandbox is .100, the gateway .2, DNS .3, or .2 with gvisor)." placeholder:"CIDR" group:"Network"`
	Publish           []string `short:"p" sep:"none" help:"Forward a host port to PORT on the sandbox's 127.0.0.1 (repeatable; any --net but host). The host side listens on every address unless IP is given; PORT alone (or IP::PORT) takes a host port the kernel picks, printed on stderr." placeholder:"[[IP:]HOSTPORT[-LAST]:]PORT[-LAST][/tcp|/udp]" group:"Network"`

	picked  bool           // --net user chose the stack
	skipped string         // why --net user passed over pasta, if it did
	ports   []network.Port // --publish, parsed
}

func (n *NetFlags) validate() error {
	if n.ShareNet {
		if n.Net != "none" && n.Net != "host" {
			return fmt.Errorf("--share-net with --net %s: pick one", n.Net)
		}
		n.Net = network.Host
	}
	var mode string
	var err error
	if n.Net == network.User {
		mode, n.skipped, err = network.PickUser()
	} else {
		mode, err = network.Pick(n.Net)
	}
	if err != nil {
		return err
	}
	n.picked = n.Net == network.User
	n.Net = mode
	if n.MTU != 0 && (n.MTU < 1280 || n.MTU > 65520) {
		return fmt.Errorf("--mtu %d: want 1280 to 65520", n.MTU)
	}
	if n.CIDR != "" {
		ip, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil || ip.To4() == nil {
			return fmt.Errorf("--cidr %q: want an IPv4 subnet such as 10.0.2.0/24", n.CIDR)
		}
		if ones, _ := ipnet.Mask.Size(); ones > 24 {
			return fmt.Errorf("--cidr %q: want a /24 or larger (the sandbox takes .100)", n.CIDR)
		}
	}
	if !network.IsUser(n.Net) && (n.AllowHostLoopback || n.MTU != 0 || n.CIDR != "") {
		return fmt.Errorf("--allow-host-loopback, --mtu and --cidr need a user-mode network (--net user)")
	}
	return n.validatePorts()
}

func (n *NetFlags) validatePorts() error {
	n.ports = nil
	seen := map[string]string{}
	for _, s := range n.Publish {
		ports, err := network.ParsePorts(s)
		if err != nil {
			return err
		}
		if n.Net == network.Host {
			return fmt.Errorf("--publish %s with --net host: the sandbox already uses the host's ports; fix: drop --publish, or use --net none or user", s)
		}
		for _, p := range ports {
			if p.HostPort == 0 {
				continue // the kernel picks one of its own
			}
			key := fmt.Sprintf("%s/%d/%s", p.HostIP, p.HostPort, p.Proto)
			if prev, ok := seen[key]; ok {
				return fmt.Errorf("--publish %s and %s: the same host port %d twice; fix: give each its own host port", prev, s, p.HostPort)
			}
			seen[key] = s
		}
		n.ports = append(n.ports, ports...)
	}
	return nil
}

// subnetAt is address .n of the user-mode subnet.
func (n *NetFlags) subnetAt(i byte) string {
	cidr := n.CIDR
	if cidr == "" {
		cidr = "10.0.2.0/24"
	}
	_, ipnet, _ := net.ParseCIDR(cidr)
	ip := ipnet.IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+i).String()
}

// dnsAddress is the stack's DNS forwarder: .3 of the subnet for pasta and
// slirp4netns; gvisor-tap-vsock serves it on the gateway, .2.
func (n *NetFlags) dnsAddress() string {
	if n.Net == network.Gvisor {
		return n.subnetAt(2)
	}
	return n.subnetAt(3)
}

// netPlan sets up spec for the network mode: the user-mode stack as a hook the
// parent runs while init waits, and /etc/resolv.conf pointing at its DNS
// forwarder. It returns what to stop after the run.
func (r *RunCmd) netPlan(spec *userns.Spec, v *view) (*netRun, error) {
	spec.ShareNet = r.Net == network.Host
	spec.Config.NetLo = !spec.ShareNet
	var logw io.Writer = io.Discard
	if r.Verbose {
		logw = os.Stderr
	}
	nr := &netRun{}
	if len(r.ports) > 0 {
		// Listen now: a port in use fails before anything starts.
		pub, err := network.Publish(r.ports, logw)
		if err != nil {
			return nil, err
		}
		nr.pub = pub
		for i, p := range pub.Ports() {
			if r.ports[i].HostPort == 0 {
				// Picked by the kernel: the user needs to know it.
				fmt.Fprintf(os.Stderr, "sandbox: --publish %s: host port %d\n", r.ports[i], p.HostPort)
			}
		}
		spec.Config.Aux = true
		spec.Network = nr.setup
	}
	if !network.IsUser(r.Net) {
		return nr, nil
	}
	switch {
	case r.skipped != "":
		// Said without -v: not the stack the user would expect.
		fmt.Fprintf(os.Stderr, "sandbox: --net user: %s; using %s\n", r.skipped, r.Net)
	case r.picked && r.Verbose:
		fmt.Fprintf(os.Stderr, "sandbox: --net user: using %s\n", r.Net)
	}
	// Written by init to a tmpfs of its own: nothing on the host's disk.
	// Before the user's own mounts, so --ro FILE:/etc/resolv.conf still wins.
	spec.Config.Mounts = insertBeforeUser(spec.Config.Mounts, userns.Mount{Kind: userns.File, Dst: "/etc/resolv.conf", Data: network.ResolvConf(r.dnsAddress())})
	if r.Net == network.Gvisor {
		// Init makes the tap (it holds CAP_NET_ADMIN in the namespace;
		// we cannot enter it) and hands it over the aux channel.
		ones := 24
		if r.CIDR != "" {
			_, ipnet, _ := net.ParseCIDR(r.CIDR)
			ones, _ = ipnet.Mask.Size()
		}
		mtu := r.MTU
		if mtu == 0 {
			mtu = 65520
		}
		spec.Config.Aux = true
		spec.Config.Tap = &userns.TapConfig{Name: "tap0", MTU: mtu, Addr: r.subnetAt(100), PrefixLen: ones, Gateway: r.subnetAt(2)}
	}
	if !r.AllowHostLoopback {
		addrs, err := hostAddrs()
		if err != nil {
			return nil, err
		}
		spec.Config.BlockAddrs = addrs
	}
	// slirp4netns's IPv6 comes by router advertisement: make it quick.
	spec.Config.QuickIPv6 = r.Net == network.Slirp4netns
	nr.user = true
	nr.opts = network.Options{Mode: r.Net, AllowHostLoopback: r.AllowHostLoopback, MTU: r.MTU, CIDR: r.CIDR, Log: logw}
	spec.Network = nr.setup
	return nr, nil
}

// insertBeforeUser puts m after the sandbox's own mounts and before the ones
// from --ro/--rw/--tmpfs (the last Bind/Tmpfs steps that came from flags).
func insertBeforeUser(mounts []userns.Mount, m userns.Mount) []userns.Mount {
	i := len(mounts)
	for i > 0 && mounts[i-1].FromFlag {
		i--
	}
	out := append([]userns.Mount{}, mounts[:i]...)
	out = append(out, m)
	return append(out, mounts[i:]...)
}

// netRun is what the parent runs for the network while the sandbox lives: the
// user-mode stack's helper and the published ports' listeners.
type netRun struct {
	user bool // a user-mode stack (opts)
	opts network.Options
	net  *network.Net
	pub  *network.Published
}

func (n *netRun) setup(ctx context.Context, pid int, aux *userns.Aux) error {
	if n.user {
		var err error
		var taps network.TapSource
		if aux != nil {
			taps = aux
		}
		if n.net, err = network.Setup(ctx, n.opts, pid, taps); err != nil {
			return err
		}
	}
	if n.pub != nil {
		n.pub.Serve(aux.Dial)
	}
	return nil
}

func (n *netRun) close() {
	if n != nil {
		n.pub.Close()
		_ = n.net.Close()
	}
}

func netArgsHost(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--share-net" || strings.HasPrefix(a, "--share-net=") || a == "--net=host" {
			return true
		}
	}
	for i := 0; i+1 < len(args) && args[i] != "--"; i++ {
		if args[i] == "--net" && args[i+1] == "host" {
			return true
		}
	}
	return false
}

// hostAddrs are the host's own addresses that a user-mode stack could reach
// (it connects from the host): every address of every interface, IPv4 and
// IPv6, link-local ones too (pasta carried a connection to fe80::X%tap0 to
// the host's own fe80::X), but loopback, which inside is the sandbox's own.
func hostAddrs() ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses (to close them inside): %w", err)
	}
	var out []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsMulticast() {
			continue
		}
		out = append(out, n.IP.String())
	}
	return out, nil
}
