package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"

	"sandbox/idmap"
	"sandbox/network"
	"sandbox/userns"
)

// mapMode is --map as the run will use it. "auto" takes a single-ID map for
// a run that can make no use of other IDs: a command that is not root
// inside, without capabilities added (it cannot setuid or chown), on the
// host's root (not a --rootfs tree whose files belong to sub-IDs) and with
// an ephemeral layer (a named one may hold files of sub-IDs from a --uid 0
// run). Host files of other users show as nobody inside under either map,
// so such a run sees the same; it saves newuidmap and newgidmap, two setuid
// execs that cost ~3 ms on every start (issue 15). Not with slirp4netns: its
// own confinement (--enable-sandbox) becomes root in the sandbox's user
// namespace, which a single-ID map leaves unmapped ("setegid(0)", "parent
// failed"); --net user may fall back to it. Not with fuse-overlayfs: its
// copy-up gives a directory the owner of the lower one, and an unmapped
// owner fails with EINVAL. Both cost tens of milliseconds anyway.
func (r *RunCmd) mapMode(inUID, inGID uint32) string {
	if r.Map == "auto" && inUID != 0 && inGID != 0 && len(r.CapAdd) == 0 &&
		r.Rootfs == "" && r.Name == "" && !r.Cow && r.Overlay != "fuse" &&
		r.Net != network.Slirp4netns && r.Net != network.User {
		return "single"
	}
	return r.Map
}

// planMaps picks the ID maps for --map. The caller's own IDs always sit at the
// IDs asked for inside, so files written to a writable bind belong to the caller
// on the host; sub-IDs, when there are any, fill the rest of the ID space.
func planMaps(mode string, inUID, inGID, uid, gid uint32) (userns.IDMaps, error) {
	single := userns.IDMaps{UID: idmap.Single(inUID, uid), GID: idmap.Single(inGID, gid)}
	if mode == "single" {
		return single, nil
	}
	maps, why := subIDMaps(inUID, inGID, uid, gid)
	if why == "" {
		return maps, nil
	}
	if mode == "subids" {
		return userns.IDMaps{}, fmt.Errorf("--map subids: %s", why)
	}
	// Said once per run, one line: the sandbox works, with a single ID.
	fmt.Fprintf(os.Stderr, "sandbox: note: using a single-ID map (only your own ID exists inside): %s\n", why)
	return single, nil
}

// subIDMaps returns the sub-ID maps, or why they cannot be used, with the fix.
func subIDMaps(inUID, inGID, uid, gid uint32) (userns.IDMaps, string) {
	newuidmap, err1 := exec.LookPath("newuidmap")
	newgidmap, err2 := exec.LookPath("newgidmap")
	if err1 != nil || err2 != nil {
		return userns.IDMaps{}, "newuidmap/newgidmap not found; fix: apt install uidmap (dnf install shadow-utils)"
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	subuid, err := idmap.LookupSubIDs("/etc/subuid", name, uid)
	if err != nil {
		return userns.IDMaps{}, fmt.Sprintf("read /etc/subuid: %v", err)
	}
	subgid, err := idmap.LookupSubIDs("/etc/subgid", name, uid)
	if err != nil {
		return userns.IDMaps{}, fmt.Sprintf("read /etc/subgid: %v", err)
	}
	if len(subuid) == 0 || len(subgid) == 0 {
		return userns.IDMaps{}, fmt.Sprintf("no range for %s in /etc/subuid or /etc/subgid; fix (as root): add the line %q to both files",
			name, idmap.SubIDLine(name, takenSubIDs()))
	}
	return userns.IDMaps{
		UID: idmap.Build(inUID, uid, subuid), GID: idmap.Build(inGID, gid, subgid),
		NewUIDMap: newuidmap, NewGIDMap: newgidmap,
	}, ""
}

// takenSubIDs lists every range in /etc/subuid, so the advice names a free one.
func takenSubIDs() []idmap.Range {
	f, err := os.Open("/etc/subuid")
	if err != nil {
		return nil
	}
	defer f.Close()
	taken, _ := idmap.AllSubIDs(f)
	return taken
}

// planMapsQuiet is the map with the caller at inside ID 0, as sub-IDs allow,
// for helpers that act as root over a sandbox's files; it says nothing.
func planMapsQuiet(mode string, uid, gid uint32) (userns.IDMaps, error) {
	if mode != "single" {
		if maps, why := subIDMaps(0, 0, uid, gid); why == "" {
			return maps, nil
		}
	}
	return userns.IDMaps{UID: idmap.Single(0, uid), GID: idmap.Single(0, gid)}, nil
}
