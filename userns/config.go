// Package userns starts a command in new user, mount, PID, IPC, UTS, network and
// cgroup namespaces. The parent half (parent.go) runs in the host's user namespace;
// the init half (init.go, child_*.go) runs as PID 1 inside the sandbox.
//
// Why a re-exec: the Go runtime is multi-threaded before main runs, and the kernel
// refuses unshare(CLONE_NEWUSER) in a multi-threaded process. So the sandbox's init
// is this same binary, started by the parent with every namespace requested at
// clone time (SysProcAttr.Cloneflags). It waits on a pipe until the parent has
// written its ID maps, then builds its mounts and starts the command.
//
// The flow, parent and init side by side (see README "How it works"):
//
//	parent                          init (PID 1 inside)
//	plan (Config)
//	clone+exec /proc/self/exe  -->  reads Config on fd 3
//	                           <--  tap device over aux, fd 5 (--net gvisor)
//	write ID maps (newuidmap ∥ newgidmap)
//	network helper (pasta, ...)
//	send Mapped                -->  private propagation, mount plan, pivot_root
//	(scope for cgroup limits)
//	send Go                    -->  lock down, fork+exec the command
//	forward signals            -->  forward to the command, reap zombies
//	-p: accept on host ports   <->  aux: connect to 127.0.0.1:PORT, pass the fd
//	read Exit / Error          <--  send Exit (or Error at any stage), exit
package userns

// Stage names the environment variable that tells a re-executed binary which role
// it plays. The parent never sets anything else in init's environment: the command's
// environment travels in Config.
const (
	StageEnv  = "_SANDBOX_STAGE"
	StageInit = "init"
)

// Config is everything init needs, resolved by the parent (paths absolute and
// symlink-free on the host, IDs numeric). It crosses the boundary as JSON: init
// never parses the user's argv.
type Config struct {
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir"`
	UID      uint32   `json:"uid"`
	GID      uint32   `json:"gid"`
	Hostname string   `json:"hostname,omitempty"`
	Mounts   []Mount  `json:"mounts"`
	// NetLo says the sandbox has a network namespace of its own: init
	// brings up its loopback interface and mounts a sysfs of it on /sys.
	NetLo bool `json:"netLo"`
	// QuickIPv6 makes interfaces created later in the namespace take their
	// IPv6 address from the first router advertisement at once (no
	// duplicate-address detection, no delay before soliciting one): what
	// slirp4netns's IPv6 relies on.
	QuickIPv6 bool `json:"quickIPv6,omitempty"`
	// BlockAddrs are the host's own addresses, made unreachable inside (a
	// user-mode stack would reach the host's services bound to them).
	BlockAddrs []string `json:"blockAddrs,omitempty"`
	// Aux: answer the parent's requests on the aux channel (published
	// ports; see aux.go).
	Aux bool `json:"aux,omitempty"`
	// Tap, when set, makes init create and configure a tap device for a
	// user-mode stack the parent runs (--net gvisor) and hand it over the
	// aux channel.
	Tap     *TapConfig `json:"tap,omitempty"`
	Verbose bool       `json:"verbose,omitempty"`
	// Caps is the command's capability set (bounding, and for a non-root
	// command also permitted, inheritable and ambient).
	Caps CapSet `json:"caps"`
	// Seccomp is the compiled filter, installed last before the command's
	// exec; empty means unconfined.
	Seccomp Filter `json:"seccomp,omitempty"`
	// FuseOverlayfs is the host path of fuse-overlayfs, when a mount may need it.
	FuseOverlayfs string `json:"fuseOverlayfs,omitempty"`
	// CgroupScope says Go will name a cgroup that holds init: init then keeps
	// a handle on the host's tree to reach it after pivot_root.
	CgroupScope bool `json:"cgroupScope,omitempty"`
	// NoMask leaves the kernel's files that tell about the host
	// (/proc/cmdline, ...) unmasked: a nested namespace (--allow-nested)
	// mounts a new proc or sysfs only where the one it sees is not covered.
	NoMask bool `json:"noMask,omitempty"`
	// TmpSize bounds each tmpfs init makes for the command: /tmp, /dev/shm,
	// --tmpfs, and the memory layer of an ephemeral run (a tmpfs size=
	// value: bytes with a k/m/g suffix, or a percentage of RAM).
	TmpSize string `json:"tmpSize,omitempty"`
	// NoWait: the parent leaves as soon as init reports the exit status,
	// without waiting for the namespace's teardown (init has ended every
	// other process first).
	NoWait bool `json:"noWait,omitempty"`
	// StopTimeout is how many seconds the command has to end after a
	// forwarded SIGTERM or SIGINT before init kills everything in the
	// sandbox; negative: wait for ever.
	StopTimeout int `json:"stopTimeout"`
	// CgroupWritable mounts the sandbox's cgroup tree read-write (--uid 0:
	// the command may manage its own sub-cgroups).
	CgroupWritable bool `json:"cgroupWritable,omitempty"`

	// The OCI runtime's (sandbox-runc, see oci.go) only.

	// Groups are the command's supplementary groups (setgroups must be
	// allowed in the namespace: IDMaps.KeepSetgroups).
	Groups []uint32 `json:"groups,omitempty"`
	// SetGroups sets Groups even when empty: an image's User gets the
	// groups of the image's /etc/group, not init's (which hold the host
	// user's group, ID 0 inside). Needs setgroups allowed: a sub-ID map.
	SetGroups bool `json:"setGroups,omitempty"`
	// Rlimits are set on init just before the command's fork, which
	// inherits them.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Sysctl: /proc/sys paths (net/ipv4/ping_group_range) and values of
	// the sandbox's own namespaces, written by init before its mounts.
	Sysctl map[string]string `json:"sysctl,omitempty"`
	// BuildFsID, when set, is the uid and gid (inside) that init's mount
	// thread creates files as while it builds the root: for ID maps that
	// leave out the runtime's own IDs, which have no owner to give a new
	// file in the sandbox's filesystems (EOVERFLOW). See buildAs.
	BuildFsID *[2]uint32 `json:"buildFsID,omitempty"`
	// ReadOnlyRoot makes the new root's own mount read-only once every
	// mount of the plan is in place (mount points may be created first).
	ReadOnlyRoot bool `json:"readOnlyRoot,omitempty"`
	// StartSocket, a host path, makes init stop once everything but the
	// command's exec is done: it says Created to the parent, which may
	// then leave, and waits on a socket bound there for Start.
	StartSocket string `json:"startSocket,omitempty"`
	// Terminal: the command's stdio are a pty that init makes when
	// create asks (oci.go's console), and its controlling terminal.
	Terminal bool `json:"terminal,omitempty"`
	// Hooks: config.json's createContainer and startContainer hooks, which
	// init runs (hooks.go).
	Hooks *Hooks `json:"hooks,omitempty"`
	// PreservedFDs: init holds this many of the caller's descriptors from
	// fd 6 on (--preserve-fds), the command's 3 and up (nsjoin.go).
	PreservedFDs int `json:"preservedFDs,omitempty"`
	// JoinedCgroupNS: init was cloned into a cgroup namespace the config
	// named (Spec.Join) and makes none of its own.
	JoinedCgroupNS bool `json:"joinedCgroupNS,omitempty"`
}

// Rlimit is one resource limit (setrlimit(2)); Resource is RLIMIT_*'s number.
type Rlimit struct {
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// TapConfig describes the tap device init makes for --net gvisor.
type TapConfig struct {
	Name      string `json:"name"`
	MTU       int    `json:"mtu"`
	Addr      string `json:"addr"` // IPv4 address of the sandbox
	PrefixLen int    `json:"prefixLen"`
	Gateway   string `json:"gateway"`
}
