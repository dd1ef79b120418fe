// Package network gives the sandbox its network: none (a new namespace with
// only lo, the default), the host's, or user-mode networking through pasta or
// slirp4netns. Both helpers run in the foreground, as our children (pasta under
// a keeper), so they live exactly as long as the sandbox; rootlesskit's
// drivers let pasta daemonize (it then outlives the sandbox) and prepare
// slirp4netns's tap in a way that needs root inside (see pasta.go, keeper.go
// and slirp.go). Published ports (publish.go) need no helper process.
//
// Runs in the parent (host namespaces), after init's ID maps are written and
// before init mounts: the helpers join init's user and network namespaces by
// PID.
package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
)

// Modes of --net.
const (
	None        = "none"
	Host        = "host"
	Pasta       = "pasta"
	Slirp4netns = "slirp4netns"
	Gvisor      = "gvisor" // gvisor-tap-vsock in sandbox-netstack (gvisor.go)
	User        = "user"   // pasta, else slirp4netns, else gvisor
)

// Options configure a user-mode network.
type Options struct {
	Mode string
	// AllowHostLoopback lets the sandbox reach the host's 127.0.0.1 through
	// the gateway address; off by default (local databases, X11, ...).
	AllowHostLoopback bool
	MTU               int    // 0: 65520
	CIDR              string // "": 10.0.2.0/24
	Log               io.Writer
}

// IsUser says whether mode needs a user-mode stack (a helper process).
func IsUser(mode string) bool {
	return mode == Pasta || mode == Slirp4netns || mode == Gvisor || mode == User
}

// Pick resolves --net user to the first stack installed, and checks that an
// explicit one is. The error names the package to install.
func Pick(mode string) (string, error) {
	switch mode {
	case None, Host:
		return mode, nil
	case Pasta, Slirp4netns:
		if _, err := exec.LookPath(mode); err != nil {
			return "", fmt.Errorf("--net %s: %s not found; fix: apt install %s", mode, mode, pkg(mode))
		}
		return mode, nil
	case Gvisor:
		if _, err := findNetstack(); err != nil {
			return "", err
		}
		return mode, nil
	case User:
		m, _, err := PickUser()
		return m, err
	}
	return "", fmt.Errorf("--net %q: want none, host, user, pasta, slirp4netns or gvisor", mode)
}

// PickUser resolves --net user: pasta (the faster stack), then slirp4netns,
// then sandbox-netstack, the first installed. pasta is passed over when the
// host has no IPv4 default route, which it needs (issue 21): skipped then
// says why, for the user to see which stack was taken instead.
func PickUser() (mode, skipped string, err error) {
	var have []string
	for _, m := range []string{Pasta, Slirp4netns} {
		if _, err := exec.LookPath(m); err == nil {
			have = append(have, m)
		}
	}
	if _, err := findNetstack(); err == nil {
		have = append(have, Gvisor)
	}
	switch {
	case len(have) == 0:
		return "", "", fmt.Errorf("--net user: none of pasta, slirp4netns and sandbox-netstack is installed; fix: apt install passt (or slirp4netns)")
	case have[0] == Pasta && len(have) > 1 && !hostHasDefaultRoute4():
		// Without another stack, pasta's error says what to do.
		return have[1], noRouteForPasta, nil
	}
	return have[0], "", nil
}

func pkg(mode string) string {
	if mode == Pasta {
		return "passt"
	}
	return mode
}

// Net is a configured user-mode network.
type Net struct {
	// DNS is the address of the stack's DNS forwarder, for /etc/resolv.conf.
	DNS     string
	cleanup func() error
}

// Close stops the helper (slirp4netns; pasta ends with the namespace).
func (n *Net) Close() error {
	if n == nil || n.cleanup == nil {
		return nil
	}
	return n.cleanup()
}

// TapSource hands over the tap device init made (userns.Aux).
type TapSource interface{ Tap() (*os.File, error) }

// Setup starts the user-mode stack for the network namespace of process pid.
// taps is asked for init's tap device in the modes that need one (gvisor).
func Setup(ctx context.Context, o Options, pid int, taps TapSource) (*Net, error) {
	// The defaults, once for every stack.
	if o.MTU == 0 {
		o.MTU = 65520
	}
	cidr := o.CIDR
	if cidr == "" {
		cidr = "10.0.2.0/24"
	}
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil || ipnet.IP.To4() == nil {
		return nil, fmt.Errorf("--cidr %q: want an IPv4 subnet such as 10.0.2.0/24", o.CIDR)
	}
	switch o.Mode {
	case Pasta:
		return startPasta(ctx, o, ipnet, pid)
	case Slirp4netns:
		// Not rootlesskit's slirp4netns driver: it prepares the tap with
		// `nsenter --preserve-credentials ip tuntap add`, which keeps
		// capabilities only when the caller is root inside (rootlesskit's
		// map); ours keeps the caller's own ID, so ip would run without
		// them. slirp4netns creates and configures the tap itself.
		return startSlirp(ctx, o, ipnet, pid)
	case Gvisor:
		if taps == nil {
			return nil, fmt.Errorf("--net gvisor: no aux channel to receive the tap from init")
		}
		tap, err := taps.Tap()
		if err != nil {
			return nil, err
		}
		// sandbox-netstack has its own copy once started.
		defer tap.Close()
		return startGvisor(ctx, o, ipnet, tap)
	}
	return nil, fmt.Errorf("network mode %q has no user-mode stack", o.Mode)
}

// ResolvConf is /etc/resolv.conf for the sandbox: the stack's DNS forwarder.
func ResolvConf(dns string) []byte {
	return []byte("# written by sandbox: the user-mode network's DNS forwarder\nnameserver " + dns + "\n")
}

func oneLine(err error) error {
	s := strings.Join(strings.Fields(err.Error()), " ")
	return fmt.Errorf("%s", s)
}

// subnetAt is address .n of the IPv4 subnet ipnet.
func subnetAt(ipnet *net.IPNet, n byte) string {
	b := ipnet.IP.To4()
	return net.IPv4(b[0], b[1], b[2], b[3]+n).String()
}
