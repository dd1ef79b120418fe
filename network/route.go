package network

import (
	"os"
	"strconv"
	"strings"
)

// Route flags of /proc/net/route and /proc/net/ipv6_route (linux/route.h).
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// hostHasDefaultRoute says whether this network namespace (the host's, in the
// parent) has a usable default route, IPv4 or IPv6: what pasta needs to find
// its template interface. Without one (a laptop with Wi-Fi off), Debian 12's
// pasta exits ("No external routable interface"), while slirp4netns and
// sandbox-netstack work.
func hostHasDefaultRoute() bool {
	if b, err := os.ReadFile("/proc/net/route"); err == nil && defaultRoute4(string(b), "") {
		return true
	}
	b, err := os.ReadFile("/proc/net/ipv6_route")
	return err == nil && defaultRoute6(string(b), "")
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

// defaultRoute6 is defaultRoute4 for /proc/net/ipv6_route, whose table always
// holds the kernel's own reject default on lo.
func defaultRoute6(table, dev string) bool {
	for _, l := range strings.Split(table, "\n") {
		// dest dest-len src src-len next-hop metric ref use flags dev
		f := strings.Fields(l)
		if len(f) != 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" || (dev != "" && f[9] != dev) {
			continue
		}
		if usable(f[8]) {
			return true
		}
	}
	return false
}

func usable(hexFlags string) bool {
	fl, err := strconv.ParseUint(hexFlags, 16, 32)
	return err == nil && fl&rtfUp != 0 && fl&rtfReject == 0
}
