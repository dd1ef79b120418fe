package network

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
)

// startSlirp runs slirp4netns for the network namespace of pid: it joins pid's
// user namespace (gaining the capabilities it needs there), creates tap0,
// configures it (--configure), and writes to its ready fd once done. Joining
// the namespace changes its credentials, which clears its parent-death
// signal: the exit pipe is what ends it when we are SIGKILLed.
func startSlirp(ctx context.Context, o Options, ipnet *net.IPNet, pid int) (*Net, error) {
	bin, err := exec.LookPath(Slirp4netns)
	if err != nil {
		return nil, fmt.Errorf("slirp4netns not found; fix: apt install slirp4netns")
	}
	mtu := o.MTU
	if mtu == 0 {
		mtu = 65520
	}
	cidr := "10.0.2.0/24"
	if ipnet != nil {
		cidr = ipnet.String()
	}
	args := []string{"--configure", "--mtu", strconv.Itoa(mtu), "--cidr", cidr, "-r", "3", "-e", "4",
		// slirp4netns confines itself: its own mount namespace and a
		// seccomp filter (it parses packets from the sandbox).
		"--enable-sandbox", "--enable-seccomp",
		"--userns-path", fmt.Sprintf("/proc/%d/ns/user", pid)}
	if !o.AllowHostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	args = append(args, strconv.Itoa(pid), "tap0")
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	// fds 3 and 4: the ready and exit pipes (-r 3 -e 4).
	stop, err := startReady(ctx, Slirp4netns, cmd)
	if err != nil {
		return nil, err
	}
	_, n, _ := net.ParseCIDR(cidr)
	ip := n.IP.To4()
	return &Net{DNS: net.IPv4(ip[0], ip[1], ip[2], ip[3]+3).String(), cleanup: stop}, nil
}
