package escape

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The working directory is resolved inside the new root only (issue 13, E1;
// the runc CVE-2024-21626 class). Init held an O_PATH descriptor of the host's
// root while it changed into --chdir, and `--chdir /proc/self/fd/N` made the
// command start there: it listed the host's /, read ~/.ssh and wrote on the
// host. Every magic link to an open file is now refused with one line and
// 125; whatever starts, starts inside.
func TestChdirThroughProcLinks(t *testing.T) {
	var dirs []string
	// Init's descriptors are 0-2, the pipes and the aux socket (3-5), the
	// Go runtime's (epoll, wake-up) and, before the fix, the host's root
	// (6 with a scope): 3-12 covers them with room.
	for n := 3; n <= 12; n++ {
		dirs = append(dirs, fmt.Sprintf("/proc/self/fd/%d", n))
	}
	for n := 3; n <= 8; n++ {
		dirs = append(dirs, fmt.Sprintf("/proc/1/fd/%d", n))
	}
	dirs = append(dirs, "/proc/self/cwd", "/proc/self/root/..", "/proc/1/cwd", "/proc/1/root")
	modes := []mode{
		defaultMode,
		{name: "scope", args: []string{"--cgroup", "systemd"}, needs: []Feature{UserBus}},
		{name: "scope-uid0", args: []string{"--cgroup", "systemd", "--uid", "0"}, needs: []Feature{UserBus, Fuse}},
		{name: "publish", args: []string{"-p", "9"}},
		{name: "gvisor", args: []string{"--net", "gvisor"}},
		{name: "named", args: []string{"--name", "chdir-" + token()}},
		root,
	}
	// The secret as a path relative to the host's /: readable from a working
	// directory there, and from nowhere inside (~/.ssh is hidden).
	rel := strings.TrimPrefix(secret, "/")
	inModes(t, func(t *testing.T, m mode) {
		guard(t)
		if name := nameIn(m.args); name != "" {
			t.Cleanup(func() { sandbox(t, "rm", name) })
		}
		planted := filepath.Join(home, "escaped-"+token())
		for _, d := range dirs {
			r := sandbox(t, m.with("--chdir", d, "--", "sh", "-c",
				`pwd; cat "$1" 2>/dev/null && echo LEAKED; touch "$2" 2>/dev/null; ls -d ./proc/1 2>/dev/null && echo HOSTROOT; echo STARTED`,
				"sh", rel, strings.TrimPrefix(planted, "/"))...)
			if _, err := os.Lstat(planted); err == nil {
				os.Remove(planted)
				t.Errorf("%s --chdir %s: ESCAPE: the command created %s on the host", m.name, d, planted)
			}
			switch {
			case strings.Contains(r.stdout, "LEAKED"):
				t.Errorf("%s --chdir %s: ESCAPE: the command read %s from its working directory:\n%s", m.name, d, secret, r)
			case r.code == 125:
				// -p PORT prints the port the kernel chose; the error is the rest.
				var lines []string
				for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
					if !strings.Contains(l, ": host port ") {
						lines = append(lines, l)
					}
				}
				if len(lines) != 1 || !strings.Contains(lines[0], "working directory") {
					t.Errorf("%s --chdir %s: refused, but not with one line naming the working directory:\n%s", m.name, d, r)
				}
			case r.code == 0 && strings.Contains(r.stdout, "STARTED"):
				// Started: only possible where the link names a directory
				// of the sandbox's own; never the host's root.
				if strings.Contains(r.stdout, "HOSTROOT") && !strings.HasPrefix(r.stdout, "/\n") {
					t.Errorf("%s --chdir %s: started in a root-like directory that is not the sandbox's /:\n%s", m.name, d, r)
				}
			default:
				t.Errorf("%s --chdir %s: neither refused (125) nor started:\n%s", m.name, d, r)
			}
		}
	}, modes...)
}

// nameIn returns the value of --name in args, or "".
func nameIn(args []string) string {
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
