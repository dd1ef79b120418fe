package main

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"sandbox/seccomp"
	"sandbox/userns"
)

// LockFlags choose the command's privileges.
type LockFlags struct {
	Seccomp     string   `help:"Seccomp profile: PATH to an OCI/Docker JSON profile (see sandbox seccomp default), or unconfined." placeholder:"PATH|unconfined" group:"Lock-down"`
	AllowNested bool     `help:"Let the command create user namespaces and mount in them (nested sandboxes: bwrap, unshare, browsers' sandboxes)." group:"Lock-down"`
	CapAdd      []string `help:"Give the command CAP (repeatable, or comma-separated; ALL for every one)." placeholder:"CAP" group:"Lock-down"`
	CapDrop     []string `help:"Take CAP from root's default set (--uid 0)." placeholder:"CAP" group:"Lock-down"`
}

// lockDown resolves the capability set and compiles the seccomp filter in the
// parent, so a bad profile is an error before anything starts, and init only
// loads a ready program.
func (l *LockFlags) lockDown(root bool) (userns.CapSet, []unix.SockFilter, error) {
	caps, err := userns.Caps(root, l.CapAdd, l.CapDrop)
	if err != nil {
		return 0, nil, err
	}
	var pol *seccomp.Policy
	switch l.Seccomp {
	case "unconfined":
		fmt.Fprintln(os.Stderr, "sandbox: warning: no seccomp filter (--seccomp unconfined): the whole kernel interface is open to the command")
		return caps, nil, nil
	case "":
		// The mount API only for a command that cannot use it on the
		// sandbox's own mounts (see seccomp/doc.go).
		mounts := l.AllowNested && caps&(1<<unix.CAP_SYS_ADMIN) == 0
		pol = seccomp.Default(seccomp.Options{AllowNested: l.AllowNested, AllowMounts: mounts})
	default:
		data, err := os.ReadFile(l.Seccomp)
		if err != nil {
			return 0, nil, fmt.Errorf("--seccomp: %w", err)
		}
		if pol, err = seccomp.ParseProfile(data); err != nil {
			return 0, nil, fmt.Errorf("--seccomp %s: %w", l.Seccomp, err)
		}
	}
	prog, err := seccomp.Compile(pol)
	if err != nil {
		return 0, nil, fmt.Errorf("--seccomp: compile: %w", err)
	}
	return caps, prog, nil
}

// SeccompCmd is `sandbox seccomp default`.
type SeccompCmd struct {
	Default SeccompDefaultCmd `cmd:"" help:"Print the default seccomp profile as OCI/Docker JSON, to start a profile of your own from."`
}

// SeccompDefaultCmd prints the default profile.
type SeccompDefaultCmd struct {
	AllowNested bool `help:"The profile --allow-nested uses."`
}

// Run prints the profile.
func (c *SeccompDefaultCmd) Run() error {
	b, err := json.MarshalIndent(seccomp.Default(seccomp.Options{AllowNested: c.AllowNested}).Spec(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	fmt.Println(string(b))
	return nil
}
