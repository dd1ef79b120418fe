package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// startSlirp runs slirp4netns for the network namespace of pid: it joins pid's
// user namespace (gaining the capabilities it needs there), creates tap0,
// configures it (--configure), and writes to its ready fd once done.
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
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create ready pipe: %w", err)
	}
	defer readyR.Close()
	// The exit fd: slirp4netns quits when its other end closes, which the
	// kernel does when we exit, even on SIGKILL (Pdeathsig alone does not
	// survive slirp4netns joining the namespace's credentials).
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, fmt.Errorf("create exit pipe: %w", err)
	}
	defer exitR.Close()
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
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	// It dies with us; it also exits by itself when the namespace goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		readyW.Close()
		exitW.Close()
		return nil, fmt.Errorf("start slirp4netns: %w", err)
	}
	readyW.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		_, err := readyR.Read(buf)
		done <- err
	}()
	stop := func() error {
		exitW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil
	}
	select {
	case err := <-done:
		if err != nil {
			stop()
			return nil, fmt.Errorf("slirp4netns exited before it was ready (run with -v to see its output): %w", errors.Unwrap(err))
		}
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("slirp4netns: %w", ctx.Err())
	}
	_, n, _ := net.ParseCIDR(cidr)
	ip := n.IP.To4()
	return &Net{DNS: net.IPv4(ip[0], ip[1], ip[2], ip[3]+3).String(), cleanup: stop}, nil
}
