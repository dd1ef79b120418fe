package network

import (
	"os"
	"strconv"
	"strings"
)

// Route flags of /proc/net/route (linux/route.h).
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// hostHasDefaultRoute4 says whether this network namespace (the host's, in
// the parent) has a usable IPv4 default route: what pasta needs to find its
// template interface for IPv4. Without one (a laptop with Wi-Fi off), Debian
// 12's pasta exits ("No external routable interface"); with an IPv6 default
// route alone it runs but leaves the sandbox without IPv4, which our set-up
// waits for. slirp4netns and sandbox-netstack need no route.
func hostHasDefaultRoute4() bool {
	b, err := os.ReadFile("/proc/net/route")
	return err == nil && defaultRoute4(string(b), "")
}

// defaultRoute4 says whether the table (the format of /proc/net/route) has
// an IPv4 default route that is up and not a reject route, through dev if dev
// is not "".
func defaultRoute4(table, dev string) bool {
	for _, l := range strings.Split(table, "\n") {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		f := strings.Fields(l)
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" || (dev != "" && f[0] != dev) {
			continue
		}
		if usable(f[3]) {
			return true
		}
	}
	return false
}

func usable(hexFlags string) bool {
	fl, err := strconv.ParseUint(hexFlags, 16, 32)
	return err == nil && fl&rtfUp != 0 && fl&rtfReject == 0
}
