package ocicmd

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// FeaturesCmd is `features`.
type FeaturesCmd struct{}

// Run prints what sandbox-runc honours of a config.json. Namespaces: a
// network, IPC, UTS or cgroup namespace may be joined by path; a user or
// mount namespace never can be, for a Go runtime (setns needs a single
// thread), nor a PID namespace (init is PID 1 of the container's own): the
// annotation says so, as features has no field for it.
func (FeaturesCmd) Run(e *env) error {
	yes, no := true, false
	return printJSON(features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		MountOptions:  []string{"bind", "rbind", "ro", "mode"},
		Linux: &features.Linux{
			Namespaces: []string{"user", "mount", "pid", "ipc", "uts", "network", "cgroup"},
			Capabilities: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
				"CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP", "CAP_NET_ADMIN",
				"CAP_SYS_ADMIN", "CAP_IPC_LOCK", "CAP_SYS_RESOURCE", "CAP_SYS_NICE"},
			// Limits on cgroup v2 only: a delegated cgroupfs directory, or a
			// scope of the user's systemd manager (--systemd-cgroup).
			Cgroup: &features.Cgroup{V1: &no, V2: &yes, Systemd: &no, SystemdUser: &yes},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
					"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
					"SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"},
				Archs: []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"},
			},
			Apparmor: &features.Apparmor{Enabled: &no},
			Selinux:  &features.Selinux{Enabled: &no},
		},
		Annotations: map[string]string{
			"io.github.sandbox.namespaces.join": "network,ipc,uts,cgroup (never user, mount or pid)",
			"io.github.sandbox.hooks":           "prestart,createRuntime,createContainer,startContainer,poststart,poststop",
		},
	})
}
