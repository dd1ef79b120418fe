// Package seccomp builds, compiles and installs the sandbox's seccomp
// filter, without libseccomp or cgo.
//
// Runs in the sandbox's init, on the locked OS thread that starts the
// command: init drops capabilities and sets no_new_privs on that thread,
// calls Install (that thread only), forks and execs the command, then calls
// SyncThreads so that init's other threads carry the filter and
// no_new_privs too (they keep their capabilities).
//
// # Model
//
// A Policy is a default action and ordered Rules; Compile turns it into
// classic BPF (see Compile for the program's shape: architecture check, x32
// check, binary search on the syscall number, argument tests only for the
// calls that need them). ParseProfile and FromSpec read OCI and Docker JSON
// profiles; Policy.Spec writes one. Syscall names come from
// golang.org/x/sys/unix by `go generate` (names_amd64.go, names_arm64.go).
//
// # Why a deny list
//
// Default allows every system call except the ones below, like bubblewrap
// as Flatpak configures it, rather than allowing a list as Docker does.
// The sandbox runs arbitrary builds: an allow list fails new system calls
// with EPERM until someone updates it, and programs break on that in ways
// that are hard to trace (glibc 2.33's faccessat2 and glibc 2.34's clone3
// under older Docker profiles are the well-known cases), while Docker's
// list also gates much on capabilities that a rootless sandbox holds only
// inside its own namespaces. The kernel's permission checks stay the first
// line; the filter removes kernel interfaces that are host-wide, that let a
// command reach outside the sandbox, or that are known exploit surfaces.
//
// # Denied by Default
//
// EPERM unless noted. "Docker" means its default profile denies it too
// (for a container without the capability that would unlock it),
// "Flatpak" that Flatpak's bubblewrap filter does.
//
//	keyctl, add_key,       kernel keyrings are not namespaced: a command could read or
//	request_key            plant keys in the user's keyrings (Docker, Flatpak)
//	init_module,           load or remove kernel code (Docker)
//	finit_module,
//	delete_module
//	kexec_load,            boot another kernel (Docker)
//	kexec_file_load
//	bpf                    eBPF programs and maps, a verifier-bug surface (Docker)
//	perf_event_open        kernel profiling: address leaks, side channels, frequent CVEs;
//	                       `perf` does not work inside (Docker, Flatpak)
//	userfaultfd            lets an exploit stall the kernel on a chosen page fault (Docker)
//	io_uring_setup,        io_uring's operations bypass seccomp entirely, and it is a leading
//	io_uring_enter,        source of kernel CVEs; libuv and others fall back to plain I/O
//	io_uring_register      (Docker since 25.0, moby#46762)
//	open_by_handle_at      opens any inode by handle, past the mount view: the "shocker"
//	                       container escape (Docker)
//	name_to_handle_at      its other half; tools that use it to compare mounts fall back
//	                       (Docker allows it)
//	acct                   host process accounting (Docker, Flatpak)
//	swapon, swapoff        host swap (Docker)
//	reboot                 in a PID namespace it kills the namespace's init: the sandbox (Docker)
//	syslog                 the kernel log: host messages and addresses (Docker, Flatpak)
//	settimeofday,          the host's clock, which time namespaces do not cover (Docker).
//	clock_settime, stime,  Reading NTP state through adjtimex or clock_adjtime fails too;
//	clock_adjtime,         Docker allows those two
//	adjtimex
//	quotactl, quotactl_fd  host filesystem quotas (Docker, Flatpak)
//	lookup_dcookie         obsolete profiling interface that reveals paths (Docker)
//	iopl, ioperm           raw x86 I/O ports (Docker)
//	vm86, vm86old          virtual 8086 mode, 32-bit x86 only (Docker)
//	modify_ldt             16-bit segments (Wine, DOSEMU), a recurring source of kernel
//	                       bugs (Flatpak; Docker allows it)
//	uselib                 a.out libraries, obsolete (Docker, Flatpak)
//	mount, umount,         the sandbox's own mounts are not locked in its own mount
//	umount2, pivot_root    namespace, so a command given CAP_SYS_ADMIN there could unmount
//	                       an overmount and uncover what it hides (Docker, Flatpak)
//	fsopen, fsconfig,      the new mount API: the same (Docker, Flatpak)
//	fsmount, fspick,
//	move_mount, open_tree,
//	open_tree_attr,
//	mount_setattr
//	setns                  joining other namespaces (Docker, Flatpak)
//	clone, unshare         only with CLONE_NEWUSER, unless Options.AllowNested: a new user
//	                       namespace hands a full capability set over new namespaces and
//	                       so reaches kernel code behind ns_capable() checks (netfilter,
//	                       filesystems) that the sandbox otherwise keeps out of reach (Docker
//	                       denies every namespace flag, Flatpak this one). The other
//	                       CLONE_NEW* flags need capabilities in the sandbox's user
//	                       namespace: a non-root command has none, and a root command can
//	                       only create namespaces it already controls
//	clone3                 ENOSYS unless AllowNested: its flags are in memory, which seccomp
//	                       cannot read; glibc and others fall back to clone (Docker, Flatpak)
//	personality            unless 0, PER_LINUX32, UNAME26, both, or the 0xffffffff query:
//	                       the other flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE,
//	                       MMAP_PAGE_ZERO) weaken exploit mitigations; `setarch -R` fails
//	                       and gdb warns that it cannot disable ASLR (Docker)
//	ioctl TIOCSTI          pushes input into the terminal, typing into the shell that
//	                       started the sandbox (CVE-2017-5226); tested on the low 32 bits
//	                       the kernel reads (CVE-2019-10063) (Flatpak)
//	ioctl TIOCLINUX        console selection and paste, the same on a virtual console
//	                       (CVE-2023-28100) (Flatpak)
//
// Nested sandboxes: AllowNested enables what Chromium's and Firefox's
// sandboxes use (user, PID and network namespaces); with AllowMounts also
// what bubblewrap, `unshare -m` and podman inside use, the mount API. The
// caller sets AllowMounts only for a command without CAP_SYS_ADMIN in the
// sandbox's user namespace (the default for every command, --uid 0 too).
// Such a command cannot mount or unmount in the sandbox's own mount
// namespace whatever the filter says (every mount call checks CAP_SYS_ADMIN
// over the mount namespace's owner). In a user and mount namespace of its
// own it gets CAP_SYS_ADMIN there, but the kernel copies the sandbox's
// mounts into it locked together (MNT_LOCKED): it cannot unmount one to
// uncover what it hides, nor clear a read-only flag the sandbox set. A
// command with CAP_SYS_ADMIN in the sandbox could unmount the sandbox's own
// mounts in place, and the filter cannot tell the two cases apart at the
// call, so for it the mount API stays denied.
//
// Left allowed on purpose: ptrace, process_vm_readv, process_vm_writev,
// kcmp and pidfd_getfd check ptrace access, which confines them to the
// sandbox's own PID namespace, and since Linux 4.8 seccomp checks a call
// again after a tracer changes it; builds need gdb, strace and sanitizers
// (Docker allows ptrace on 4.8+). The NUMA calls Flatpak denies (mbind,
// set_mempolicy, migrate_pages, move_pages) only touch the caller's memory.
// All socket families are allowed.
//
// # Architectures
//
// The filter accepts its native architecture only (AUDIT_ARCH_X86_64 or
// AUDIT_ARCH_AARCH64) and kills the process on any other, including 32-bit
// x86 (int 0x80) from a 64-bit program, so i386 binaries do not run. On
// x86_64, x32 calls (numbers from 0x40000000) fail with ENOSYS, what
// kernels without x32 support (most) answer: allowing them would open x32
// entry points that rules written for x86_64 numbers do not cover, and
// killing gains nothing over refusing.
package seccomp
