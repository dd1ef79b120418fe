// Package unpack writes one image layer's tar into a directory, as the tree of
// an overlay lower layer (see package image, "Trees").
//
// Runs in sandbox-image, as root of a user namespace that maps the user to 0
// and the user's sub-IDs above it: the tar's owners are set as they are (an ID
// the map lacks becomes 0, and is counted). Everything in the tar is untrusted:
// each entry's parent is opened below the layer's root with RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS, and every change is made relative to that handle.
package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/quote"
)

// Stats tells what Layer did beyond writing the tree.
type Stats struct {
	Size     int64    // bytes of regular files
	Devices  []string // device nodes skipped (the first few)
	NDevices int
	Unmapped int // entries whose owner the ID map lacks, given to 0
	Dropped  int // xattrs dropped (security.*, trusted.*, user.overlay.*)
}

// IDs says which IDs exist in the namespace (the ID map), so chown never
// fails half way.
type IDs interface{ Mapped(uid, gid int) bool }

// Layer unpacks the tar stream r into the existing empty directory root. An
// entry that is absolute, climbs with "..", or would be written through a
// symlink fails the whole layer: the caller discards root.
func Layer(r io.Reader, root string, ids IDs) (Stats, error) {
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rfd)
	u := &unpacker{root: rfd, ids: ids}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.st, fmt.Errorf("read layer tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return u.st, fmt.Errorf("layer entry %s: %w", quote.Short(hdr.Name, 120), err)
		}
	}
	return u.st, u.dirTimes()
}

type unpacker struct {
	root int
	ids  IDs
	st   Stats
	dirs []*tar.Header // directories, whose times are set last
}

// clean checks an entry name and returns it relative to the root ("." for
// the root itself).
func clean(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute path refused")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`".." refused`)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("NUL in name")
	}
	return path.Clean(name), nil
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	p, err := clean(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	dir, base := path.Split(p)
	if p == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the root is not a directory")
		}
		return u.attrs(u.root, hdr)
	}
	if strings.HasPrefix(base, ".wh.") {
		return u.whiteout(dir, base)
	}
	pfd, err := u.parent(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.dir(pfd, base, hdr)
	case tar.TypeReg, tar.TypeRegA:
		return u.file(pfd, base, hdr, r)
	case tar.TypeSymlink:
		if err := u.replace(pfd, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		uid, gid := u.owner(hdr)
		if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown symlink: %w", err)
		}
		return setTimes(pfd, base, hdr)
	case tar.TypeLink:
		if path.Clean(hdr.Linkname) == p {
			return nil // a link to itself: the file is there already
		}
		return u.link(pfd, base, hdr)
	case tar.TypeFifo:
		if err := u.replace(pfd, base); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		return u.attrsAt(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		// A sandbox's /dev is its own: an image's device nodes are not made.
		u.st.NDevices++
		if len(u.st.Devices) < 3 {
			u.st.Devices = append(u.st.Devices, "/"+p)
		}
		return nil
	default:
		return nil // GNU sparse and long names are the reader's; nothing else is a file
	}
}

// parent opens the directory dir below the root, creating what is missing of
// it, never through a symlink.
func (u *unpacker) parent(dir string) (int, error) {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return unix.Dup(u.root)
	}
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(u.root, dir, how)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return -1, fmt.Errorf("written through a symlink in %s: refused", quote.Short(dir, 120))
	}
	if errors.Is(err, unix.ENOTDIR) {
		return -1, fmt.Errorf("%s is not a directory", quote.Short(dir, 120))
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("open %s: %w", quote.Short(dir, 120), err)
	}
	// Missing directories (a tar may omit them): made one by one, root's, 0755.
	cur, err := unix.Dup(u.root)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(dir, "/") {
		if err := unix.Mkdirat(cur, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(cur)
			return -1, fmt.Errorf("create %s: %w", quote.Short(dir, 120), err)
		}
		next, err := unix.Openat2(cur, c, how)
		unix.Close(cur)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return -1, fmt.Errorf("written through a symlink in %s: refused", quote.Short(dir, 120))
		}
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", quote.Short(dir, 120), err)
		}
		cur = next
	}
	return cur, nil
}

// whiteout turns ".wh.NAME" into a 0:0 character device NAME, and
// ".wh..wh..opq" into user.overlay.opaque=y on its directory.
func (u *unpacker) whiteout(dir, base string) error {
	pfd, err := u.parent(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == ".wh..wh..opq" {
		if err := unix.Fsetxattr(pfd, "user.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("mark opaque: %w", err)
		}
		return nil
	}
	if strings.HasPrefix(base, ".wh..wh.") {
		return nil // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs)
	}
	name := strings.TrimPrefix(base, ".wh.")
	if name == "" || name == "." || name == ".." {
		return errors.New("whiteout of nothing refused")
	}
	if err := u.replace(pfd, name); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("make whiteout: %w", err)
	}
	return nil
}

func (u *unpacker) dir(pfd int, base string, hdr *tar.Header) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := u.replace(pfd, base); err != nil {
			return err
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	return u.attrs(fd, hdr)
}

func (u *unpacker) file(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	if err := u.replace(pfd, base); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	n, err := io.Copy(fdWriter(fd), r)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	u.st.Size += n
	if err := u.attrs(fd, hdr); err != nil {
		return err
	}
	ts := times(hdr)
	return unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

func (u *unpacker) link(pfd int, base string, hdr *tar.Header) error {
	target, err := clean(hdr.Linkname)
	if err != nil || target == "." {
		return fmt.Errorf("hard link to %s: refused", quote.Short(hdr.Linkname, 120))
	}
	tdir, tbase := path.Split(target)
	tfd, err := u.parent(tdir)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hard link to %s: the target is not in this layer", quote.Short(hdr.Linkname, 120))
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errors.New("hard link to a directory refused")
	}
	if err := u.replace(pfd, base); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hard link: %w", err)
	}
	return nil
}

// replace removes what the layer already has at base (a later entry wins),
// unless it is a directory the new entry merges into (dir handles that).
func (u *unpacker) replace(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unlink(pfd, base, 0)
	}
	return removeTree(pfd, base)
}

// NamespaceIDs reads the ID maps of the calling process's user namespace.
func NamespaceIDs() (IDs, error) {
	u, err := readMap("/proc/self/uid_map")
	if err != nil {
		return nil, err
	}
	g, err := readMap("/proc/self/gid_map")
	if err != nil {
		return nil, err
	}
	return nsIDs{u, g}, nil
}

type nsIDs struct{ uid, gid [][2]uint64 }

func (n nsIDs) Mapped(uid, gid int) bool { return inMap(n.uid, uid) && inMap(n.gid, gid) }

func inMap(m [][2]uint64, id int) bool {
	for _, r := range m {
		if id >= 0 && uint64(id) >= r[0] && uint64(id) < r[0]+r[1] {
			return true
		}
	}
	return false
}

// readMap reads the inside start and count of each line of a uid_map.
func readMap(p string) ([][2]uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var out [][2]uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var in, outside, n uint64
		if _, err := fmt.Sscan(line, &in, &outside, &n); err == nil {
			out = append(out, [2]uint64{in, n})
		}
	}
	return out, nil
}
