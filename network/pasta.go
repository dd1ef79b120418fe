package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// startPasta runs pasta in the foreground, under our keeper, for the network
// namespace of pid. Not rootlesskit's pasta driver: that one lets pasta fork
// into the background, and a pasta attached by PID does not notice when the
// namespace goes (it holds the tap, which keeps the namespace alive), so every
// run left a pasta behind. In the foreground under the keeper it ends with us,
// however we end. The options are the driver's: a tap configured by pasta
// (--config-net), no port forwarding, and, unless asked, no way to the host's
// loopback (--no-map-gw, no namespace-to-host ports). IPv4 gets our subnet;
// IPv6, when the host has it, is the host's own address and routes, copied
// (pasta's way: the sandbox then cannot reach the host at that address, it is
// its own).
func startPasta(ctx context.Context, o Options, ipnet *net.IPNet, pid int) (*Net, error) {
	bin, err := exec.LookPath(Pasta)
	if err != nil {
		return nil, fmt.Errorf("pasta not found; fix: apt install passt")
	}
	if !hostHasDefaultRoute4() {
		// pasta would exit, or run without IPv4 while we wait for it.
		fix := "--net user, which takes slirp4netns or sandbox-netstack then (they need no route)"
		if _, err := exec.LookPath(Slirp4netns); err != nil {
			if _, err := findNetstack(); err != nil {
				fix = "apt install slirp4netns, which needs no route (--net user takes it then)"
			}
		}
		return nil, fmt.Errorf("--net pasta: %s; fix: %s", noRouteForPasta, fix)
	}
	at := func(n byte) string { return subnetAt(ipnet, n) }
	ones, _ := ipnet.Mask.Size()
	args := []string{"--foreground", "--ns-ifname=tap0", "--mtu=" + strconv.Itoa(o.MTU), "--config-net",
		"--address=" + at(100), "--netmask=" + strconv.Itoa(ones), "--gateway=" + at(2), "--dns-forward=" + at(3),
		"--tcp-ports=none", "--udp-ports=none", "--quiet"}
	if !o.AllowHostLoopback {
		args = append(args, "--no-map-gw", "--tcp-ns=none", "--udp-ns=none")
	}
	args = append(args, strconv.Itoa(pid))
	// Through the keeper (keeper.go): it ends pasta even after a SIGKILL of
	// sandbox, which pasta's own parent-death signal does not survive. Its
	// last words go in the error if it fails.
	var said tail
	cmd, exitW, err := keep(append([]string{bin}, args...), io.MultiWriter(o.Log, &said))
	if err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		exitW.Close()
		<-exited
		return nil
	}
	// Ready once the namespace has its default route through tap0.
	route := fmt.Sprintf("/proc/%d/net/route", pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(route); err == nil && defaultRoute4(string(b), "tap0") {
			return &Net{DNS: at(3), cleanup: stop}, nil
		}
		select {
		case err := <-exited:
			return nil, pastaFailed(said.lastLine(), err)
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("pasta: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("pasta did not bring the network up in 10 s")
		}
	}
}

// noRouteForPasta is why pasta cannot serve this host.
const noRouteForPasta = "pasta needs an IPv4 default route, and this host has none"

// pastaFailed is the error for a pasta that exited before the network was up,
// with its own last line.
func pastaFailed(last string, err error) error {
	if last == "" {
		return fmt.Errorf("pasta exited before the network was up (run with --verbose to see why): %v", err)
	}
	return fmt.Errorf("pasta exited before the network was up: %s", last)
}
