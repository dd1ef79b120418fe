package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/quote"
)

// ResolveUser turns an image's User ("uid", "uid:gid", "name", "name:group",
// "uid:group", ...) into numeric IDs, reading the image's /etc/passwd and
// /etc/group from its layers (top first; layers bottom first as
// Image.Layers). A numeric user with no passwd entry gets group 0, as podman
// does. An empty user is root.
func ResolveUser(layers []string, user string) (uid, gid uint32, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	var passwd, group []byte
	readPasswd := func() []byte {
		if passwd == nil {
			passwd = readMerged(layers, "etc", "passwd")
		}
		return passwd
	}
	if n, ok := parseID(u); ok {
		uid = n
		if !hasGroup {
			if _, pg, found := lookup(readPasswd(), u, 2, 2, 3); found {
				gid, _ = parseID(pg)
			}
		}
	} else {
		pu, pg, found := lookup(readPasswd(), u, 0, 2, 3)
		if !found {
			return 0, 0, fmt.Errorf("user %s: not in the image's /etc/passwd", quote.Short(u, 64))
		}
		uid, _ = parseID(pu)
		gid, _ = parseID(pg)
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if n, ok := parseID(g); ok {
		return uid, n, nil
	}
	group = readMerged(layers, "etc", "group")
	gg, _, found := lookup(group, g, 0, 2, 2)
	if !found {
		return 0, 0, fmt.Errorf("group %s: not in the image's /etc/group", quote.Short(g, 64))
	}
	gid, _ = parseID(gg)
	return uid, gid, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n >= math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// lookup finds the line of a colon-separated file (passwd, group: at least
// four fields) whose field key (0: name, 2: ID) is name and returns its
// fields f1 and f2.
func lookup(b []byte, name string, key, f1, f2 int) (string, string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || max(key, f1, f2) >= len(fields) || fields[key] != name {
			continue
		}
		if _, ok := parseID(fields[2]); !ok {
			continue
		}
		return fields[f1], fields[f2], true
	}
	return "", "", false
}

// readMerged reads dir/name as the overlay of layers would show it: the top
// layer that has it, unless a higher one deletes it (a whiteout of dir or
// name, or an opaque dir). Each layer is a root of its own: the file is
// opened with RESOLVE_IN_ROOT, so a symlink in it cannot lead out (a symlink
// to another layer's file is then not followed there: not found). At most
// 1 MiB is read; anything but a regular file reads as empty.
func readMerged(layers []string, dir, name string) []byte {
	for i := len(layers) - 1; i >= 0; i-- {
		root, err := unix.Open(layers[i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		b, stop := readLayerFile(root, dir, name)
		unix.Close(root)
		if b != nil || stop {
			return b
		}
	}
	return nil
}

// readLayerFile reads dir/name of one layer; stop says the layers below
// must not be read (deleted or hidden here).
func readLayerFile(root int, dir, name string) (b []byte, stop bool) {
	var st unix.Stat_t
	if unix.Fstatat(root, dir, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && isWhiteout(&st) {
		return nil, true
	}
	p := dir + "/" + name
	if unix.Fstatat(root, p, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && isWhiteout(&st) {
		return nil, true
	}
	fd, err := unix.Openat2(root, p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, opaque(root, dir)
		}
		return nil, true
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return []byte{}, true
	}
	b, _ = io.ReadAll(io.LimitReader(f, 1<<20))
	if b == nil {
		b = []byte{}
	}
	return b, true
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func opaque(root int, dir string) bool {
	fd, err := unix.Openat2(root, dir, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, 4)
	n, err := unix.Fgetxattr(fd, "user.overlay.opaque", buf)
	return err == nil && string(buf[:n]) == "y"
}

// Home is the home directory of uid in the image's /etc/passwd, or "".
func Home(layers []string, uid uint32) string {
	home, _, found := lookup(readMerged(layers, "etc", "passwd"), strconv.FormatUint(uint64(uid), 10), 2, 5, 5)
	if !found || !strings.HasPrefix(home, "/") {
		return ""
	}
	return home
}

// Groups are uid's supplementary groups in the image: those of its
// /etc/group whose member list names uid's first /etc/passwd name, in file
// order, each once, gid (the primary group) left out. None when uid has no
// name or is in no group: the command then has none, as podman gives it.
func Groups(layers []string, uid, gid uint32) []uint32 {
	name, _, found := lookup(readMerged(layers, "etc", "passwd"), strconv.FormatUint(uint64(uid), 10), 2, 0, 0)
	if !found || name == "" {
		return nil
	}
	var out []uint32
	seen := map[uint32]bool{gid: true}
	sc := bufio.NewScanner(bytes.NewReader(readMerged(layers, "etc", "group")))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 {
			continue
		}
		id, ok := parseID(fields[2])
		if !ok || seen[id] || !slices.Contains(strings.Split(fields[3], ","), name) {
			continue
		}
		seen[id] = true
		out = append(out, id)
		if len(out) == maxGroups {
			break
		}
	}
	return out
}

// maxGroups is the kernel's NGROUPS_MAX.
const maxGroups = 65536
