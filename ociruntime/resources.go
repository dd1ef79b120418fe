package ociruntime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// linux.resources, through package systemdcgroup (as `sandbox --memory`):
//
//	--systemd-cgroup  a transient scope of the user's systemd manager, named
//	                  from cgroupsPath "slice:prefix:name" (prefix-name.scope
//	                  in slice), with the limits as unit properties
//	otherwise         a cgroup below our own cgroup2 cgroup, when it is
//	                  delegated to us (writable, the controllers enabled for
//	                  its children), named for cgroupsPath's last element
//
// Where neither can hold the limits (no user manager, no delegation, or the
// controllers are not in cgroup2 at all, as on hybrid hosts whose v1
// hierarchies hold memory, cpu, pids and io), the container runs without
// them and the log says so once: what runc does rootless, and what rootless
// podman expects of its runtime on such hosts (it drops the limits itself
// and warns on cgroup v1).
//
// The device rules podman always sends decide nothing here: a rootless
// /dev holds only the harmless nodes.

// limitsOf converts config.json's resources to our limits. What cgroup v2
// knows differently is converted as runc converts it (shares to weight,
// blkio weight to io weight, memory+swap to swap).
func limitsOf(r *specs.LinuxResources) (systemdcgroup.Limits, error) {
	var l systemdcgroup.Limits
	if r == nil {
		return l, nil
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			l.MemoryMax = uint64(*m.Limit)
		}
		if m.Swap != nil && *m.Swap > 0 {
			// OCI's swap is memory plus swap; cgroup v2's swap is swap.
			if l.MemoryMax == 0 || uint64(*m.Swap) < l.MemoryMax {
				return l, fmt.Errorf("linux.resources.memory.swap %d: memory plus swap, needs a memory limit no larger", *m.Swap)
			}
			l.MemorySwapMax, l.SwapSet = uint64(*m.Swap)-l.MemoryMax, true
		}
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period > 0 {
				period = *c.Period
			}
			l.CPUQuota = time.Duration(uint64(*c.Quota) * uint64(time.Second) / period)
		}
		if c.Shares != nil && *c.Shares > 0 {
			s := min(max(*c.Shares, 2), 262144)
			l.CPUWeight = 1 + (s-2)*9999/262142
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		l.TasksMax = uint64(*p.Limit)
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight > 0 {
		w := min(max(uint64(*b.Weight), 10), 1000)
		l.IOWeight = 1 + (w-10)*9999/990
	}
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("linux.resources: %w", err)
	}
	return l, nil
}

// cgroupPlace is where a container's limits go, for Spec.Place.
type cgroupPlace struct {
	limits  systemdcgroup.Limits
	systemd bool
	path    string // cgroupsPath, untrusted
	id      string
	log     *slog.Logger
	// own is the cgroupfs directory made, for delete to remove.
	own string
}

// place puts init into its cgroup and returns that cgroup's host path, or
// "" with a warning when the limits cannot be had.
func (c *cgroupPlace) place(ctx context.Context, pid int) (string, error) {
	dir, err := c.try(ctx, pid)
	if err != nil {
		c.log.Warn("linux.resources: cgroup limits not applied (rootless, as runc): "+err.Error(),
			"limits", strings.Join(c.limits.Controllers(), ","))
		return "", nil
	}
	return dir, nil
}

func (c *cgroupPlace) try(ctx context.Context, pid int) (string, error) {
	if c.systemd {
		slice, name, err := scopeName(c.path, c.id)
		if err != nil {
			return "", err
		}
		conn, err := systemdcgroup.Connect(ctx)
		if err != nil {
			return "", err
		}
		// The scope outlives create (it holds init); the connection not.
		defer conn.Close()
		var scope *systemdcgroup.Scope
		if slice == "" {
			scope, err = conn.StartScope(ctx, name, "sandbox-runc container "+c.id, pid, c.limits)
		} else {
			scope, err = conn.StartScopeInSlice(ctx, slice, name, "sandbox-runc container "+c.id, pid, c.limits)
		}
		if err != nil {
			return "", err
		}
		if err := scope.CheckControllers(c.limits); err != nil {
			// In the scope all the same: podman and the shim find it there.
			c.log.Warn("linux.resources: cgroup limits not enforced (rootless, as runc): " + err.Error())
		}
		return scope.Path(), nil
	}
	own, ok := systemdcgroup.OwnCgroup()
	if !ok {
		return "", fmt.Errorf("our cgroup %s is not delegated to us (use --systemd-cgroup with a systemd user manager)", own)
	}
	name := path.Base(path.Clean("/" + c.path))
	if name == "/" || name == "." || checkID(name) != nil {
		name = "sandbox-runc-" + c.id
	}
	s, err := systemdcgroup.StartOwnScope(own, name, pid, c.limits)
	if err != nil {
		return "", err
	}
	c.own = s.Path()
	return s.Path(), nil
}

// scopeName reads cgroupsPath "slice:prefix:name" as runc's systemd driver
// does: the scope is prefix-name.scope in slice ("" for the manager's
// default); an empty path names it for the container.
func scopeName(cgroupsPath, id string) (slice, scope string, err error) {
	if cgroupsPath == "" {
		return "", "sandbox-runc-" + id + ".scope", nil
	}
	f := strings.Split(cgroupsPath, ":")
	if len(f) != 3 {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: want slice:prefix:name with --systemd-cgroup", cgroupsPath)
	}
	name := f[2]
	if f[1] != "" {
		name = f[1] + "-" + f[2]
	}
	if strings.HasSuffix(name, ".slice") {
		return "", "", errors.New("linux.cgroupsPath: a slice as the container's unit is not supported")
	}
	if err := checkID(name); err != nil {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: %w", cgroupsPath, err)
	}
	return f[0], name + ".scope", nil
}

// planCgroup gives spec a Place for config.json's limits, if it has any.
// The returned place records, once create has run, the cgroupfs directory
// made.
func planCgroup(spec *userns.Spec, s *specs.Spec, o CreateOpts) (*cgroupPlace, error) {
	c := &cgroupPlace{systemd: o.SystemdCgroup, id: o.ID, log: o.Log}
	if s.Linux == nil {
		return c, nil
	}
	var err error
	if c.limits, err = limitsOf(s.Linux.Resources); err != nil || !c.limits.Any() {
		return c, err
	}
	c.path = s.Linux.CgroupsPath
	spec.Place = c.place
	spec.Config.CgroupScope = true
	return c, nil
}

// removeCgroup removes the cgroupfs directory create made, and the leaf
// init made in it, once they hold no process.
func removeCgroup(dir string) error {
	if dir == "" {
		return nil
	}
	subs, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range subs {
		if e.IsDir() {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}
