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
	// sandbox, which pasta's own parent-death signal does not survive.
	cmd, exitW, err := keep(append([]string{bin}, args...), o.Log)
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
		if b, err := os.ReadFile(route); err == nil && hasDefaultRoute(string(b), "tap0") {
			return &Net{DNS: at(3), cleanup: stop}, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("pasta exited before the network was up (run with -v to see why): %v", err)
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

func hasDefaultRoute(table, dev string) bool {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[0] == dev && f[1] == "00000000" {
			return true
		}
	}
	return false
}
