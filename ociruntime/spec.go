package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/idmap"
	"sandbox/userns"
)

// loadSpec reads bundle/config.json. Everything in it is untrusted.
func loadSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read config.json: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse config.json: %w", err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, errors.New("config.json: process.args is empty")
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, errors.New("config.json: root.path is empty")
	}
	return &s, nil
}

// plan turns config.json into the sandbox's Spec. What it cannot honour is
// refused with one line, never skipped in silence.
func plan(s *specs.Spec, bundle string) (*userns.Spec, string, error) {
	rootfs, err := hostPath(bundle, s.Root.Path)
	if err != nil {
		return nil, "", fmt.Errorf("root.path: %w", err)
	}
	lin := s.Linux
	if lin == nil {
		lin = &specs.Linux{}
	}
	ns, err := namespaces(lin.Namespaces)
	if err != nil {
		return nil, "", err
	}
	if err := refuseUnsupported(s); err != nil {
		return nil, "", err
	}
	maps, err := idMaps(ns[specs.UserNamespace], lin.UIDMappings, lin.GIDMappings)
	if err != nil {
		return nil, "", err
	}
	mounts, err := mountPlan(s, bundle, rootfs)
	if err != nil {
		return nil, "", err
	}
	cfg := userns.Config{
		Hostname:     s.Hostname,
		Mounts:       mounts,
		ReadOnlyRoot: s.Root.Readonly,
		// The manager (podman, the shim) decides when to kill: init
		// never escalates a SIGTERM by itself.
		StopTimeout: -1,
		BuildFsID:   buildFsID(maps),
	}
	if err := process(&cfg, s.Process, maps.KeepSetgroups && setgroupsAllowed()); err != nil {
		return nil, "", err
	}
	if cfg.Sysctl, err = sysctls(lin.Sysctl); err != nil {
		return nil, "", err
	}
	if cfg.Seccomp, err = filter(lin.Seccomp); err != nil {
		return nil, "", err
	}
	_, hasNet := ns[specs.NetworkNamespace]
	return &userns.Spec{Config: cfg, Maps: maps, ShareNet: !hasNet}, rootfs, nil
}

// hostPath resolves p (relative to the bundle) to a symlink-free host path,
// as init's mounts need (init reaches the host's tree below a prefix, where
// an absolute symlink would lead elsewhere).
func hostPath(bundle, p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %w", p, pe.Err)
		}
		return "", err
	}
	return real, nil
}

// namespaces checks the config's namespaces: init always makes new mount,
// PID, IPC, UTS and cgroup namespaces (and a user namespace, see idMaps); a
// network namespace only when asked. A network, IPC, UTS or cgroup
// namespace may be joined by path (spec_ns.go); a user or mount namespace
// cannot be (Go cannot setns(2) into one once it has threads), nor a PID
// namespace (spec_ns.go says why).
func namespaces(list []specs.LinuxNamespace) (map[specs.LinuxNamespaceType]bool, error) {
	got := map[specs.LinuxNamespaceType]bool{}
	for _, n := range list {
		switch n.Type {
		case specs.UserNamespace, specs.MountNamespace:
			if n.Path != "" {
				return nil, fmt.Errorf("namespaces: joining the %s namespace %s is not possible for a Go runtime (setns needs a single thread); let sandbox-runc make a new one", n.Type, n.Path)
			}
		case specs.PIDNamespace:
			if n.Path != "" {
				return nil, fmt.Errorf("namespaces: joining the pid namespace %s is not possible: init must be PID 1 of the container's own; leave out its path (a new one is made)", n.Path)
			}
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace:
		default:
			return nil, fmt.Errorf("namespaces: %q namespaces are not supported", n.Type)
		}
		got[n.Type] = true
	}
	return got, nil
}

// refuseUnsupported names the first thing of the config not done yet.
func refuseUnsupported(s *specs.Spec) error {
	if err := checkHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux == nil {
		return nil
	}
	// linux.resources: resources.go.
	for _, d := range s.Linux.Devices {
		switch d.Path {
		case "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty":
		default:
			return fmt.Errorf("linux.devices: %s: only /dev's standard nodes are given", d.Path)
		}
	}
	return nil
}

// idMaps picks the user namespace's ID maps. We are either root of a user
// namespace of our own (podman runs its runtime so, with no user namespace
// in config.json) or an ordinary user.
func idMaps(asked bool, uids, gids []specs.LinuxIDMapping) (userns.IDMaps, error) {
	root := os.Geteuid() == 0
	if !asked || len(uids) == 0 {
		if root {
			// The container gets every ID we have, as they are: a nested
			// namespace mapped onto ours one to one.
			u, err := identity("/proc/self/uid_map")
			if err != nil {
				return userns.IDMaps{}, err
			}
			g, err := identity("/proc/self/gid_map")
			if err != nil {
				return userns.IDMaps{}, err
			}
			return userns.IDMaps{UID: u, GID: g, KeepSetgroups: true}, nil
		}
		// An ordinary user: root inside is the user, as with `sandbox`.
		return userns.IDMaps{
			UID: []idmap.Mapping{{Inside: 0, Outside: uint32(os.Getuid()), Count: 1}},
			GID: []idmap.Mapping{{Inside: 0, Outside: uint32(os.Getgid()), Count: 1}},
		}, nil
	}
	m := userns.IDMaps{UID: toMappings(uids), GID: toMappings(gids), KeepSetgroups: root}
	single := len(uids) == 1 && len(gids) == 1 && uids[0].Size == 1 && gids[0].Size == 1 &&
		uids[0].HostID == uint32(os.Getuid()) && gids[0].HostID == uint32(os.Getgid())
	if root || single {
		return m, nil
	}
	var err error
	if m.NewUIDMap, err = exec.LookPath("newuidmap"); err == nil {
		m.NewGIDMap, err = exec.LookPath("newgidmap")
	}
	if err != nil {
		return m, fmt.Errorf("linux.uidMappings: several IDs need newuidmap and newgidmap (apt install uidmap): %w", err)
	}
	return m, nil
}

// setgroupsAllowed says whether our user namespace lets setgroups(2)
// through, which the container's nested one inherits: root of a namespace
// made by `unshare -r` (one ID) has it denied, podman's (the sub-IDs) not.
func setgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "allow"
}

// buildFsID is whom init creates files as while it builds the root: the
// container's root, when the maps leave out our own uid or gid (init runs
// as them, unmapped) but map root; else nil, init's own IDs.
func buildFsID(m userns.IDMaps) *[2]uint32 {
	inside := func(l []idmap.Mapping, id uint32) bool {
		return slices.ContainsFunc(l, func(e idmap.Mapping) bool { return id >= e.Inside && id-e.Inside < e.Count })
	}
	outside := func(l []idmap.Mapping, id uint32) bool {
		return slices.ContainsFunc(l, func(e idmap.Mapping) bool { return id >= e.Outside && id-e.Outside < e.Count })
	}
	if outside(m.UID, uint32(os.Getuid())) && outside(m.GID, uint32(os.Getgid())) {
		return nil
	}
	if !inside(m.UID, 0) || !inside(m.GID, 0) {
		return nil
	}
	return &[2]uint32{0, 0}
}

func toMappings(l []specs.LinuxIDMapping) []idmap.Mapping {
	out := make([]idmap.Mapping, len(l))
	for i, e := range l {
		out[i] = idmap.Mapping{Inside: e.ContainerID, Outside: e.HostID, Count: e.Size}
	}
	return out
}

// identity reads one of our own ID maps and maps each range onto itself.
func identity(file string) ([]idmap.Mapping, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var out []idmap.Mapping
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("parse %s: %q", file, line)
		}
		out = append(out, idmap.Mapping{Inside: uint32(in), Outside: uint32(in), Count: uint32(n)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", file)
	}
	return out, nil
}
