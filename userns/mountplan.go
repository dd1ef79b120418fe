package userns

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MountKind says what a mount step puts at its destination.
type MountKind string

const (
	// Bind clones the host tree at Src (recursively) onto Dst.
	Bind MountKind = "bind"
	// Tmpfs mounts an empty tmpfs; Mode is its root's permission bits.
	Tmpfs MountKind = "tmpfs"
	// Proc mounts a procfs of the sandbox's PID namespace.
	Proc MountKind = "proc"
	// Dev builds a minimal /dev: device nodes bound from the host, a new devpts, shm.
	Dev MountKind = "dev"
	// Overlay puts a copy-on-write view of host directory Src at Dst: the
	// kernel's overlayfs (or fuse-overlayfs, with Fuse) over Upper and Work.
	Overlay MountKind = "overlay"
	// Hide covers Dst: an empty, read-only tmpfs on a directory, /dev/null on
	// anything else.
	Hide MountKind = "hide"
	// Rebind clones what Dst already shows inside the new root onto itself:
	// read-only (ReadOnly) to protect it inside a writable bind, or as it is,
	// to make it a mount point, which the command can neither rename nor
	// remove (EBUSY), so a protected path below it cannot be swapped out by
	// renaming its parent. Dst's last component is not followed: a symlink
	// is pinned itself (its target is protected by a step of its own).
	Rebind MountKind = "rebind"
	// File puts a read-only file holding Data at Dst (a resolv.conf the
	// parent wrote for a user-mode network): init writes it to its own
	// tmpfs, so nothing of the run is on the host's disk.
	File MountKind = "file"
	// The OCI runtime's kinds (sandbox-runc): an mqueue of the sandbox's
	// IPC namespace; a sysfs of its network namespace (read-only, or the
	// host's /sys bound read-only where the network is the host's); Mask
	// covers Dst as the sandbox shows it, if it exists (maskedPaths).
	Mqueue MountKind = "mqueue"
	Sysfs  MountKind = "sysfs"
	Mask   MountKind = "mask"
)

// Mount is one step of the filesystem plan. Steps run in order, inside the new
// root, so a later step may cover an earlier one (as the user's --tmpfs /x covers
// the read-only host /x).
type Mount struct {
	Kind     MountKind `json:"kind"`
	Src      string    `json:"src,omitempty"` // host path, for Bind
	Dst      string    `json:"dst"`           // path inside the sandbox
	ReadOnly bool      `json:"ro,omitempty"`
	Mode     uint32    `json:"mode,omitempty"` // for Tmpfs
	// Source is what a new filesystem (Tmpfs, Proc, Sysfs, Mqueue, Dev's
	// tmpfs) shows as its source in mountinfo, a label only (an OCI
	// mount's source; "none" when empty). PtsSource is Dev's devpts's.
	Source    string `json:"source,omitempty"`
	PtsSource string `json:"ptsSource,omitempty"`
	// Optional steps are skipped when Src is missing (a host path that may not exist).
	Optional bool `json:"optional,omitempty"`
	// FromFlag marks the user's own --ro/--rw/--tmpfs steps.
	FromFlag bool `json:"-"`
	// Overlay: the upper and work directories, host paths the user owns.
	Upper string `json:"upper,omitempty"`
	Work  string `json:"work,omitempty"`
	Fuse  bool   `json:"fuse,omitempty"`
	// FuseFallback: where the kernel refuses this overlay, use fuse-overlayfs.
	FuseFallback bool `json:"fuseFallback,omitempty"`
	// Squash: fuse-overlayfs shows the lower files as owned by root inside,
	// so root inside may write files of IDs outside the map (--uid 0).
	Squash bool `json:"squash,omitempty"`
	// Precreate are directories below Src, by their path relative to it,
	// made in the upper layer (with the given permission bits, owned by the
	// user) before the overlay is mounted. The kernel overlay copies a
	// directory up with its owner, and fails with EOVERFLOW for an owner
	// the user namespace does not map (root's /var/tmp, mode 1777): made
	// beforehand, the directory is merged, not copied up, and the command
	// may write there as it could on the host.
	Precreate []Precreate `json:"precreate,omitempty"`
	// Data is a File step's content.
	Data []byte `json:"data,omitempty"`
	// Mem: Upper and Work are paths in init's own memory layer (a tmpfs of
	// the sandbox's mount namespace, see child_memlayer.go), not on the
	// host: an ephemeral run writes nothing to disk. Kernel overlay only.
	Mem bool `json:"mem,omitempty"`
	// Lowers, when set, are the overlay's lower directories, top first (an
	// image's layers; Src is then the top one): host paths, kernel overlay only.
	Lowers []string `json:"lowers,omitempty"`
}

// Precreate is one directory of Mount.Precreate.
type Precreate struct {
	Rel  string `json:"rel"`
	Mode uint32 `json:"mode"`
}

func (m Mount) String() string {
	switch m.Kind {
	case Bind:
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		return fmt.Sprintf("bind %s %s (%s)", m.Src, m.Dst, mode)
	case Rebind:
		if m.ReadOnly {
			return fmt.Sprintf("protect %s (ro)", m.Dst)
		}
		return fmt.Sprintf("pin %s", m.Dst)
	case Overlay:
		how := "kernel"
		if m.Fuse {
			how = "fuse-overlayfs"
		}
		return fmt.Sprintf("overlay %s (%s, upper %s)", m.Dst, how, m.Upper)
	default:
		return fmt.Sprintf("%s %s", m.Kind, m.Dst)
	}
}

// BasePlan is what every sandbox mounts over its root (the host's, read-only or
// copy-on-write): fresh /proc, /dev and /tmp, and the caller's runtime directory
// (its D-Bus and agent sockets) hidden.
func BasePlan(runtimeDir string) []Mount {
	plan := []Mount{
		{Kind: Proc, Dst: "/proc"},
		{Kind: Dev, Dst: "/dev"},
		{Kind: Tmpfs, Dst: "/tmp", Mode: 0o1777},
		// /run holds the host's service sockets: the system bus, the
		// journal, docker.sock, screen's. connect(2) works through a
		// read-only bind, so it is covered, not bound (the caller binds
		// back what must stay, such as resolv.conf's directory).
		{Kind: Tmpfs, Dst: "/run", Mode: 0o755},
	}
	if runtimeDir != "" && !strings.HasPrefix(runtimeDir, "/run/") {
		// A read-only bind does not stop connect(2) on a Unix socket, so the
		// sockets under $XDG_RUNTIME_DIR (D-Bus, ssh-agent, gpg-agent, Wayland)
		// are covered, not just left read-only.
		plan = append(plan, Mount{Kind: Tmpfs, Dst: runtimeDir, Mode: 0o700, Optional: true, Src: runtimeDir})
	}
	return plan
}

// ParseBind reads a --rw/--ro value, PATH[:DEST]. PATH is relative to cwd; DEST
// defaults to PATH and must be absolute.
func ParseBind(spec, cwd string, readOnly bool) (Mount, error) {
	src, dst, hasDst := strings.Cut(spec, ":")
	if src == "" {
		return Mount{}, fmt.Errorf("%q: empty PATH (want PATH[:DEST])", spec)
	}
	if err := checkPath(spec); err != nil {
		return Mount{}, err
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(cwd, src)
	}
	src = filepath.Clean(src)
	if !hasDst {
		dst = src
	}
	if !filepath.IsAbs(dst) {
		return Mount{}, fmt.Errorf("%q: DEST %q must be an absolute path", spec, dst)
	}
	return Mount{Kind: Bind, Src: src, Dst: filepath.Clean(dst), ReadOnly: readOnly}, nil
}

// ParseTmpfs reads a --tmpfs value, an absolute DEST.
func ParseTmpfs(dst string) (Mount, error) {
	if err := checkPath(dst); err != nil {
		return Mount{}, err
	}
	if !filepath.IsAbs(dst) {
		return Mount{}, fmt.Errorf("%q must be an absolute path", dst)
	}
	return Mount{Kind: Tmpfs, Dst: filepath.Clean(dst), Mode: 0o755}, nil
}

// checkPath refuses what no sane path holds and what would break a log line.
func checkPath(p string) error {
	if strings.ContainsAny(p, "\x00\n") {
		return fmt.Errorf("%q: path contains a NUL or newline", p)
	}
	return nil
}
