// Package ociruntime is the OCI runtime behind sandbox-runc: the container
// lifecycle that podman (through conmon) and containerd's runc shim drive
// with runc's command line. It knows nothing of that command line (package
// ocicmd parses it); one file per operation, container_<operation>.go, as
// youki's libcontainer splits it.
//
// Runs in the caller of the runtime: podman's rootless user namespace (where
// we are root, with no user namespace asked for in config.json), or the host's
// as an ordinary user. The container itself is package userns's sandbox: its
// init is the container's PID 1 and the PID the state records.
//
// # State
//
// One directory per container under the root (--root; by default
// $XDG_RUNTIME_DIR/sandbox-runc, or /run/sandbox-runc for root), mode 0700:
//
//	<root>/<id>/lock        flock(2): exclusive to change, shared to read
//	<root>/<id>/state.json  State: bundle, init's PID and its start time,
//	                        whether start released it, annotations
//	<root>/<id>/start.sock  init's control door (0600): start, the
//	                        terminal, exec, for as long as init lives
//
// The directory is made (O_EXCL) before init is started, so two creates of
// one ID cannot both win; state.json is written, by rename, once init has
// said Created. A create that fails removes the directory.
//
// The status is never stored: it is read from the process. A recorded PID is
// only taken for init while /proc/PID/stat shows the same start time and the
// process is not a zombie, so a PID the kernel gave to another process after
// init's end reads as stopped, and is never signalled: kill goes through a
// pidfd opened, then checked against the start time.
//
//	no live init with that start time  stopped
//	live, start not yet done           created
//	live, started                      running
//
// # Create and start
//
// create plans the sandbox from config.json (spec.go) and runs userns's
// handshake up to the command's exec; init then binds start.sock, clears its
// parent-death signal and says Created, and create exits. start connects to
// the socket; init locks down, execs the command and answers Started (or
// the exec error). The same socket serves create's terminal (a pty's
// master for --console-socket) and, once started, exec: init forks the
// process (container_exec.go). The diagram is in userns/oci.go.
package ociruntime
