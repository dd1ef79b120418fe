package ociruntime

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"sandbox/userns"
)

// Namespaces joined by path (userns/nsjoin.go says where and why there).
// The parent joins them on the thread that clones init, so init and the
// container are inside them; the container's user namespace is still a new
// one, a child of the namespace that owns them, so what needs privilege
// over a joined namespace is done by the runtime, in that namespace, before
// the clone:
//
//	net     its sysctls (net.*); /sys is the host's, read-only (a sysfs
//	        needs a network namespace the container owns)
//	ipc     its sysctls (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*);
//	        no mqueue on /dev/mqueue (the log says so): mounting one needs
//	        that privilege, and mq_open(3) works without it
//	uts     the hostname and kernel.domainname
//	cgroup  nothing (init makes no cgroup namespace of its own)
//
// A PID namespace is not joined: init must be PID 1 of the container's PID
// namespace (it ends every process in it when the command ends, which in a
// shared namespace would be the other containers'), and a proc of a joined
// PID namespace cannot be mounted from the container's user namespace.

// joinFlag is the CLONE_NEW* flag of a namespace that may be joined, or 0.
func joinFlag(t specs.LinuxNamespaceType) int {
	switch t {
	case specs.NetworkNamespace:
		return unix.CLONE_NEWNET
	case specs.IPCNamespace:
		return unix.CLONE_NEWIPC
	case specs.UTSNamespace:
		return unix.CLONE_NEWUTS
	case specs.CgroupNamespace:
		return unix.CLONE_NEWCGROUP
	}
	return 0
}

// joinPlan adds the namespaces config.json names by path to spec.
func joinPlan(spec *userns.Spec, s *specs.Spec, log *slog.Logger) error {
	if s.Linux == nil {
		return nil
	}
	joined := map[specs.LinuxNamespaceType]bool{}
	for _, n := range s.Linux.Namespaces {
		if n.Path == "" {
			continue
		}
		flag := joinFlag(n.Type)
		if flag == 0 {
			return fmt.Errorf("namespaces: joining the %s namespace %s is not possible", n.Type, n.Path)
		}
		spec.Join = append(spec.Join, userns.NSJoin{Flag: flag, Path: n.Path})
		joined[n.Type] = true
	}
	if len(spec.Join) == 0 {
		return nil
	}
	cfg := &spec.Config
	cfg.JoinedCgroupNS = joined[specs.CgroupNamespace]
	// The sysctls of joined namespaces are written from the parent.
	outside := map[string]string{}
	for k, v := range cfg.Sysctl {
		if joined[sysctlNS(k)] {
			outside[k] = v
			delete(cfg.Sysctl, k)
		}
	}
	hostname := ""
	if joined[specs.UTSNamespace] {
		hostname, cfg.Hostname = cfg.Hostname, ""
	}
	if joined[specs.IPCNamespace] {
		cfg.Mounts = slices.DeleteFunc(cfg.Mounts, func(m userns.Mount) bool {
			if m.Kind != userns.Mqueue {
				return false
			}
			log.Warn("mounts: no mqueue on " + m.Dst + " in a joined IPC namespace (its message queues work, mq_open(3), but cannot be listed there)")
			return true
		})
	}
	if len(outside) == 0 && hostname == "" {
		return nil
	}
	spec.InJoined = func() error {
		// On the thread that is in the joined namespaces: /proc/sys and
		// sethostname(2) act on the caller's (this thread's) namespaces.
		for k, v := range outside {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
				return fmt.Errorf("linux.sysctl: set %s in the joined namespace: %w", strings.ReplaceAll(k, "/", "."), err)
			}
		}
		if hostname != "" {
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				return fmt.Errorf("hostname: set %q in the joined UTS namespace: %w", hostname, err)
			}
		}
		return nil
	}
	return nil
}

// sysctlNS is the namespace a sysctl (as /proc/sys/ names it) belongs to.
func sysctlNS(k string) specs.LinuxNamespaceType {
	switch {
	case strings.HasPrefix(k, "net/"):
		return specs.NetworkNamespace
	case k == "kernel/hostname" || k == "kernel/domainname":
		return specs.UTSNamespace
	}
	return specs.IPCNamespace // sysctls() lets no other kind through
}
