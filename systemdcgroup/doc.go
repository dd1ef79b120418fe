// Package systemdcgroup puts the sandbox under cgroup v2 limits through the
// user's own systemd manager over D-Bus: a transient scope with Delegate=yes
// that holds the sandbox's init before init is released, so the command never
// runs outside its limits (runc: "no children can escape the cgroup"). Where no
// systemd user manager runs, OwnCgroup finds a delegated cgroup of our own.
//
// Runs in the parent (host namespaces). Parsing, property building and stats
// are pure or read-only; only Conn talks to systemd.
package systemdcgroup
