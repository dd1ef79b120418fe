package ociruntime

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/userns"
)

// mountPlan is the root (rootfs bound on /), config.json's mounts in order,
// then the masked and read-only paths. Destinations are paths inside the
// container; init resolves them inside the new root only.
func mountPlan(s *specs.Spec, bundle, rootfs string) ([]userns.Mount, error) {
	// Read-write first even for root.readonly: the mount points are made
	// in it, and init makes it read-only last (Config.ReadOnlyRoot).
	plan := []userns.Mount{{Kind: userns.Bind, Src: rootfs, Dst: "/"}}
	dev := -1 // the Dev step's index in plan
	for i, m := range s.Mounts {
		dst := m.Destination
		if strings.ContainsAny(dst, "\x00\n") {
			return nil, fmt.Errorf("mounts[%d]: destination %q holds a NUL or newline", i, dst)
		}
		dst = path.Clean("/" + dst) // relative: below the root, as runc takes it
		typ := m.Type
		if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			typ = "bind"
		}
		ro := slices.Contains(m.Options, "ro")
		// A new filesystem's source is a label that mountinfo shows
		// (runc passes it to mount(2) as is).
		if typ != "bind" && strings.ContainsAny(m.Source, "\x00\n") {
			return nil, fmt.Errorf("mounts[%d] (%s): source %q holds a NUL or newline", i, dst, m.Source)
		}
		switch typ {
		case "bind":
			src, err := hostPath(bundle, m.Source)
			if err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): source: %w", i, dst, err)
			}
			plan = append(plan, userns.Mount{Kind: userns.Bind, Src: src, Dst: dst, ReadOnly: ro})
		case "tmpfs":
			if dst == "/dev" {
				// Our /dev: the harmless nodes bound from the host, a
				// devpts of its own, shm (userns/child_dev.go).
				dev = len(plan)
				plan = append(plan, userns.Mount{Kind: userns.Dev, Dst: dst, Source: m.Source})
				continue
			}
			mode, err := tmpfsMode(m.Options)
			if err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, dst, err)
			}
			plan = append(plan, userns.Mount{Kind: userns.Tmpfs, Dst: dst, Mode: mode, Source: m.Source})
		case "proc":
			plan = append(plan, userns.Mount{Kind: userns.Proc, Dst: dst, Source: m.Source})
		case "sysfs":
			plan = append(plan, userns.Mount{Kind: userns.Sysfs, Dst: dst, Source: m.Source})
		case "mqueue":
			plan = append(plan, userns.Mount{Kind: userns.Mqueue, Dst: dst, Source: m.Source})
		case "devpts":
			if dev < 0 || dst != "/dev/pts" {
				return nil, fmt.Errorf("mounts[%d]: devpts goes on /dev/pts, after a tmpfs on /dev", i)
			}
			// The /dev step makes it, a new instance.
			plan[dev].PtsSource = m.Source
		case "cgroup", "cgroup2":
			// No cgroup tree is given to the container yet: its
			// /sys/fs/cgroup stays what sysfs shows (empty).
		default:
			return nil, fmt.Errorf("mounts[%d] (%s): mount type %q is not supported (bind, tmpfs, proc, sysfs, devpts, mqueue)", i, dst, m.Type)
		}
	}
	if s.Linux != nil {
		for _, p := range s.Linux.MaskedPaths {
			plan = append(plan, userns.Mount{Kind: userns.Mask, Dst: path.Clean("/" + p)})
		}
		for _, p := range s.Linux.ReadonlyPaths {
			plan = append(plan, userns.Mount{Kind: userns.Rebind, Dst: path.Clean("/" + p), ReadOnly: true, Optional: true})
		}
	}
	return plan, nil
}

// tmpfsMode reads a tmpfs's mode= option (octal); the kernel's default
// otherwise.
func tmpfsMode(opts []string) (uint32, error) {
	for _, o := range opts {
		if v, ok := strings.CutPrefix(o, "mode="); ok {
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o7777 {
				return 0, fmt.Errorf("tmpfs option %q: not an octal mode", o)
			}
			return uint32(m), nil
		}
	}
	return 0o1777, nil
}
