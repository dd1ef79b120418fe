package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
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
	cidr := ipnet.String()
	args := []string{"--configure", "--mtu", strconv.Itoa(o.MTU), "--cidr", cidr, "-r", "3", "-e", "4",
		// slirp4netns confines itself: its own mount namespace and a
		// seccomp filter (it parses packets from the sandbox).
		"--enable-sandbox", "--enable-seccomp", "--enable-ipv6",
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
	// IPv6 follows the ready fd (which means IPv4) by a router
	// advertisement, within milliseconds given init's defaults: the command
	// should find it there. Without it in time, IPv4 alone.
	if !waitIPv6(ctx, pid, "tap0", time.Second) {
		fmt.Fprintln(o.Log, "sandbox: slirp4netns: no IPv6 address within 1 s; IPv4 only")
	}
	return &Net{DNS: subnetAt(ipnet, 3), cleanup: stop}, nil
}

// waitIPv6 waits until dev in pid's network namespace has a global IPv6
// address and an IPv6 default route.
func waitIPv6(ctx context.Context, pid int, dev string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if hasIPv6(pid, dev) {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

func hasIPv6(pid int, dev string) bool {
	addrs, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/if_inet6", pid))
	if err != nil {
		return false
	}
	global := false
	for _, l := range strings.Split(string(addrs), "\n") {
		// address index prefix-length scope flags name; scope 00 is global
		f := strings.Fields(l)
		if len(f) == 6 && f[5] == dev && f[3] == "00" && f[4] != "40" { // 0x40: tentative
			global = true
		}
	}
	if !global {
		return false
	}
	routes, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/ipv6_route", pid))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(routes), "\n") {
		// dest dest-len src src-len next-hop metric ref use flags dev
		f := strings.Fields(l)
		if len(f) == 10 && f[0] == strings.Repeat("0", 32) && f[1] == "00" && f[9] == dev {
			return true
		}
	}
	return false
}
