package ocicmd

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// FeaturesCmd is `features`.
type FeaturesCmd struct{}

// Run prints what sandbox-runc honours of a config.json. Namespaces: all
// are always new; joining one by path is refused (user and mount never can
// be, for a Go runtime).
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
			Cgroup: &features.Cgroup{V1: &no, V2: &no, Systemd: &no, SystemdUser: &no},
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
	})
}
