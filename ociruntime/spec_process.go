package ociruntime

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"sandbox/seccomp"
	"sandbox/userns"
)

// process fills the command's part of cfg from config.json's process.
func process(cfg *userns.Config, p *specs.Process, setgroups bool) error {
	cfg.Argv, cfg.Env, cfg.Terminal = p.Args, p.Env, p.Terminal
	if !path.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q: must be an absolute path", p.Cwd)
	}
	// Resolved by init inside the root only (userns/child_workdir.go).
	cfg.Dir = p.Cwd
	cfg.UID, cfg.GID = p.User.UID, p.User.GID
	// Exactly additionalGids, none if it is empty, as runc sets them:
	// init's own supplementary groups (root's, as podman runs us) are not
	// the command's. Where setgroups is denied (a user namespace of one
	// ID), init has no other group to pass on.
	cfg.SetGroups = setgroups
	if len(p.User.AdditionalGids) > 0 {
		if !setgroups {
			return errors.New("process.user.additionalGids: a user namespace of one ID denies setgroups; run as root of a user namespace with all the IDs (as podman does)")
		}
		cfg.Groups = p.User.AdditionalGids
	}
	var err error
	if cfg.Caps, err = capSet(p.Capabilities); err != nil {
		return err
	}
	for _, r := range p.Rlimits {
		n := slices.Index(rlimitNames[:], strings.TrimPrefix(r.Type, "RLIMIT_"))
		if n < 0 {
			return fmt.Errorf("process.rlimits: unknown limit %q", r.Type)
		}
		cfg.Rlimits = append(cfg.Rlimits, userns.Rlimit{Resource: n, Soft: r.Soft, Hard: r.Hard})
	}
	// noNewPrivileges false is not honoured: no_new_privs is always set.
	return nil
}

// capSet is the command's capabilities: the bounding set, as init applies
// it (userns.Config.Caps). CAP_SYS_PTRACE is refused, as by `sandbox
// --cap-add`: it would let the command ptrace init.
func capSet(c *specs.LinuxCapabilities) (userns.CapSet, error) {
	if c == nil {
		return 0, nil
	}
	var set userns.CapSet
	for _, name := range c.Bounding {
		n, err := userns.ParseCap(name)
		if err != nil {
			return 0, fmt.Errorf("process.capabilities: %w", err)
		}
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(name), "CAP_"), "SYS_PTRACE") {
			return 0, errors.New("process.capabilities: CAP_SYS_PTRACE is never given (it would let the container ptrace its init)")
		}
		set |= 1 << n
	}
	return set, nil
}

// rlimitNames are setrlimit(2)'s resources without RLIMIT_, by number (an
// array: static data, no package init for a plain `sandbox` run).
var rlimitNames = [...]string{
	"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
}

// sysctls keeps the namespaced sysctls (those of the container's own IPC,
// UTS and network namespaces), as /proc/sys paths; anything else is the
// host's and is refused.
func sysctls(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for k, v := range m {
		ok := strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.") ||
			strings.HasPrefix(k, "kernel.shm") || strings.HasPrefix(k, "kernel.msg") ||
			k == "kernel.sem" || k == "kernel.hostname" || k == "kernel.domainname"
		if !ok || strings.Contains(k, "..") || strings.ContainsAny(k, "/\x00") {
			return nil, fmt.Errorf("linux.sysctl: %q is not a sysctl of the container's own namespaces", k)
		}
		out[strings.ReplaceAll(k, ".", "/")] = v
	}
	return out, nil
}

// filter compiles config.json's seccomp profile; without one, the
// sandbox's own deny list (seccomp/doc.go), never none.
func filter(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	var pol *seccomp.Policy
	var err error
	if s == nil {
		pol = seccomp.Default(seccomp.Options{})
	} else if pol, err = seccomp.FromSpec(s); err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	prog, err := seccomp.Compile(pol)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	return prog, nil
}
