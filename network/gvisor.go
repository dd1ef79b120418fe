package network

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// netstackName is the companion binary that holds gvisor-tap-vsock (built
// from ./network/sandbox-netstack): linked into sandbox itself, its package
// inits doubled every start-up.
const netstackName = "sandbox-netstack"

// startGvisor runs sandbox-netstack, gvisor-tap-vsock's user-mode stack, on
// tap: a tap (IFF_TAP|IFF_NO_PI) that init created in the sandbox's network
// namespace, already configured as .100 of the subnet with its default route
// via .2. The stack runs in the host's namespaces as the user, as our child in
// the foreground; its exit pipe ends it when we die, even by SIGKILL, and
// Pdeathsig too (it never changes credentials, so the signal holds).
//
// tap stays the caller's: sandbox-netstack has its own copy once this returns,
// so the caller should close it then, whatever the outcome.
func startGvisor(ctx context.Context, o Options, ipnet *net.IPNet, tap *os.File) (*Net, error) {
	bin, err := findNetstack()
	if err != nil {
		return nil, err
	}
	// gvisor-tap-vsock serves DNS on the gateway address, .2 (UDP and TCP).
	dns := subnetAt(ipnet, 2)
	args := []string{"--mtu", strconv.Itoa(o.MTU), "--cidr", ipnet.String()}
	if o.AllowHostLoopback {
		args = append(args, "--allow-host-loopback")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	// fd 3: the tap; fds 4 and 5: the ready and exit pipes.
	stop, err := startReady(ctx, netstackName, cmd, tap)
	if err != nil {
		return nil, err
	}
	return &Net{DNS: dns, cleanup: stop}, nil
}

// findNetstack looks for sandbox-netstack next to the running sandbox, then on
// PATH.
func findNetstack() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), netstackName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(netstackName); err == nil {
		return p, nil
	}
	return "", errors.New(`--net gvisor: sandbox-netstack not found next to sandbox or on PATH; fix (in sandbox's source tree): CGO_ENABLED=0 go build -o "$(dirname "$(command -v sandbox)")/sandbox-netstack" ./network/sandbox-netstack`)
}
