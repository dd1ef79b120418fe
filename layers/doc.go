// Package layers keeps a sandbox's changes on disk: the overlay upper and work
// directories of each overlaid host directory, the sandbox's metadata and lock,
// and the diff and commit of those changes back to the host.
//
// Runs in the parent (host namespaces), as the user. Nothing here needs a
// capability or a user namespace; another package mounts what this one lays out.
//
// # Layout
//
//	$XDG_DATA_HOME/sandbox/            Store.Root (default ~/.local/share/sandbox)
//	  NAME/                            a named sandbox (see ValidName)
//	    meta.json                      Meta, versioned
//	    lock                           flock(LOCK_EX) by the process using it; holds its PID
//	    layers/KEY/path                the host path P this layer overlays (source of truth)
//	    layers/KEY/upper               overlay upperdir: the changes to P
//	    layers/KEY/work                overlay workdir
//	    layers/KEY/engine              "kernel" or "fuse": the engine that last mounted it
//	    layers/KEY/lowers              a stacked layer's mount point and lowers (StackLayer)
//	    commit-temps                   temporary names of the commit in progress (commit_temps.go)
//	  .ephemeral/slot-N/               an unnamed sandbox: a slot of the pool, same layout
//	  .ephemeral/.new-RANDOM/          a slot being made, renamed to slot-N once locked
//	  .ephemeral/.old-RANDOM/          a slot being removed
//
// Unnamed (ephemeral) sandboxes are slots that outlive their runs, so that a
// run does not pay for making and removing its directories. Store.Ephemeral
// takes the first slot whose lock it gets without waiting (or makes one) and
// writes its PID in the lock file; Sandbox.Release empties the uppers the run
// changed, puts their roots' attributes back, and truncates the lock file. A
// free lock with a PID in the file is thus a run that was killed: the next
// start destroys that slot instead of reusing it. At most poolCap (4) slots
// stay idle: a run that took a slot beyond them destroys it at its end. Two
// runs never share a slot: the lock is held from Ephemeral to Release.
// Directories of the format before the pool (a random name, with an "owner"
// file) are removed by the next start once their lock is free.
//
// # Layer keys
//
// KEY is P (absolute and clean) with every '%' written "%25" and every '/'
// written "%2F": "/" is "%2F", "/home/u" is "%2Fhome%2Fu", "/a%b" is "%2Fa%25b".
// It is one path component that is never "." or "..", and decodes back to P.
// When that is longer than 200 bytes (NAME_MAX is 255), KEY is instead "%h"
// followed by the SHA-256 of P in hex, and only the path file tells P.
//
// # Upper directories
//
// Both kernel overlayfs (mounted with userxattr) and fuse-overlayfs write uppers
// this package reads; layers/KEY/engine names the one that last mounted the
// layer (Engine), and only its markers count. An entry in an upper is an
// addition (A), or a modification (M) when P/rel exists on the host. A
// whiteout deletes P/rel (D): a character device 0:0, or under fuse-overlayfs
// a file ".wh.NAME" that deletes NAME (NAME ".", ".." or holding '/' is
// refused). A directory is opaque, hiding the host directory's content, when
// it has the xattr user.overlay.opaque = "y" (kernel), or under fuse-overlayfs
// user.fuseoverlayfs.opaque or trusted.overlay.opaque = "y" or a file
// ".wh..wh..opq". An upper directory over a host non-directory replaces it (a
// type change). A whiteout of a path the host lacks is no change. A directory that exists on the host is listed (M) only when its
// permission bits differ: upper directories that only hold changed children are
// not changes themselves. The overlaid directory P itself is never listed.
// Sockets are runtime leftovers and are ignored. Redirects and metacopy are not
// read: overlays mounted in a user namespace cannot enable them.
//
// A stacked layer (an image's root) has several lower directories instead of
// one host path: "the host" above is then their merge, as the overlay showed
// it (the first lower holding a name wins, a 0:0 device there hides it, an
// opaque directory hides the lowers below), and paths are printed below the
// mount point ("/etc/x"). It is never committed.
//
// # Conflicts
//
// A commit must not silently undo a change made on the host while the sandbox
// had its own copy. Every entry in an upper was written after the sandbox's
// pending-since time (Meta.Pending): the start (BeginRun) of the first run since
// the uppers last held nothing but plain directories (zero until a run starts,
// when Meta.Created is used; a commit that empties the uppers resets it).
// A change of kind M or D is a conflict when the host entry it replaces or
// deletes, or for a directory that goes away any entry below it, has a ctime at
// or after that time; so is an A whose target appeared on the host since Diff.
// ctime cannot be set by users, the time is taken from the ctime of a file the
// kernel stamps in the sandbox directory (same clock, same granularity, so the
// comparison has no slack), and it can only flag too much, never too little: a
// host file changed after BeginRun but before the sandbox first copied it up is
// a conflict too, and Force overrides. Remote filesystems whose server clock
// differs from this kernel's are not covered.
//
// # Commit
//
// See Sandbox.Commit. After a successful commit the committed entries are
// removed from the upper, so Diff no longer lists them and the sandbox sees the
// host's (now equal) files; entries below an opaque directory that is not
// committed as a whole stay, because removing them would hide them.
package layers
