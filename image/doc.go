// Package image keeps container images on disk for `sandbox --image`: it parses
// image references, reads and writes the store's index, resolves an image to its
// configuration and unpacked layers, and removes what no image uses.
//
// Runs in the parent (host namespaces) of sandbox, and in sandbox-image (the
// companion binary that pulls; see image/sandbox-image). It needs no capability:
// unpacking a layer (package image/unpack) happens inside a user namespace that
// another package creates, and pulling from a registry is sandbox-image's alone,
// so that sandbox itself never links the registry client (its package
// initialisation costs every process start ~0.6 ms).
//
// # Layout
//
//	STORE/.images/                   Store.Dir (STORE is layers.Store.Root)
//	  oci-layout                     {"imageLayoutVersion":"1.0.0"}
//	  index.json                     OCI image index: one manifest descriptor per
//	                                 image name (annotation
//	                                 org.opencontainers.image.ref.name), replaced
//	                                 by rename only
//	  lock                           flock: LOCK_EX to change index.json or remove
//	                                 anything, LOCK_SH to resolve an image
//	  blobs/sha256/HEX               manifests and configs, named by their digest
//	  layers/CHAIN/                  one unpacked layer, CHAIN its chain ID (hex)
//	  layers/CHAIN/diff/             the layer's tree: an overlay lower directory
//	  tmp/pull-RANDOM/               a pull or import in progress; its lock file
//	                                 is held (LOCK_EX) while it runs
//	  tmp/rm-RANDOM/                 a layer being removed
//
// It is an OCI image layout for manifests and configs (image-spec
// image-layout.md), but without layer blobs: a layer is unpacked once, and only
// its tree is kept. An image's name is its canonical reference (Ref.Name): for a
// registry image "docker.io/library/debian:12" or "HOST/REPO@sha256:HEX", for an
// archive or layout the transport and the absolute path ("oci:/srv/img:v1"), for
// `sandbox import` "localhost/NAME:TAG".
//
// # Chain IDs
//
// A layer's tree depends on the layers below it (its whiteouts delete their
// files), so an unpacked layer is keyed by its chain ID (image-spec config.md):
// ChainID(L0) = DiffID(L0), ChainID(L0..Ln) = SHA-256 of "ChainID(L0..Ln-1)
// DiffID(Ln)". Images that share a base share its directories.
//
// # Trees
//
// Each diff directory holds what its layer's tar says, with the tar's owners
// (mapped through the user's sub-IDs: image root is the user, image ID N the
// N-th sub-ID; see sandbox-image) and modes, setuid bits included (the overlay
// is mounted nosuid). A whiteout ".wh.NAME" becomes an overlay whiteout, a 0:0
// character device NAME; an opaque-directory marker ".wh..wh..opq" becomes the
// xattr user.overlay.opaque="y" on its directory (overlayfs with userxattr).
// user.overlay.* xattrs in a tar are dropped, so an image cannot forge either.
// Entries that are absolute, climb with "..", or would be written through a
// symlink are refused, and the layer with them; device nodes are skipped.
//
// # Publishing and removal
//
// A pull writes a layer into tmp/pull-RANDOM/CHAIN/diff, checks its DiffID
// (SHA-256 of the uncompressed tar) and the compressed digest of the manifest,
// then renames tmp/pull-RANDOM/CHAIN to layers/CHAIN: a layer directory is
// complete or absent. The image is published last, under the lock: manifest and
// config blobs written (checked against their digests), then index.json
// replaced by rename. A pull killed at any point leaves at most complete,
// unreferenced layers (reused by the next pull of them) and its tmp entry,
// which the next writer removes once its lock is free.
//
// A run holds LOCK_SH on each of its layer directories (flock on the directory)
// for as long as it runs; so does a pull on the layers it has published, until
// its image is in the index. Removal (rmi, image prune) takes the store lock,
// drops the names, and moves every layer directory that no image names and
// whose flock it gets without waiting to tmp/rm-RANDOM, then deletes it; a
// busy layer stays for a later prune. Trees hold files of sub-IDs, so the
// deletion runs as root of a user namespace with the user's map.
package image
