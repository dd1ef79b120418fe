package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"sandbox/idmap"
)

// checkIDHelpers finds newuidmap and newgidmap, checks that they are
// privileged, and has them write the map a run would write for a process in a
// new user namespace. Missing helpers are a warning: --map auto then uses a
// single-ID map, and a plain run still works.
func checkIDHelpers(ctx context.Context, _ *checkEnv) checkResult {
	var paths []string
	for _, h := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(h)
		if err != nil {
			return checkWarn(h+" is not on PATH: runs use a single-ID map (only your own ID exists inside; --map subids is refused)",
				"apt install uidmap (dnf install shadow-utils)")
		}
		if !idmap.Privileged(p) {
			return checkFail(p+" is neither setuid root nor has file capabilities: it cannot write the ID map, and runs fail",
				"sudo apt install --reinstall uidmap (it installs "+p+" setuid root)")
		}
		paths = append(paths, p)
	}
	found := paths[0] + " and " + paths[1] + " are privileged"
	name, uid, gid := currentUser()
	subuid, err1 := idmap.LookupSubIDs("/etc/subuid", name, uid)
	subgid, err2 := idmap.LookupSubIDs("/etc/subgid", name, uid)
	if err1 != nil || err2 != nil || len(subuid) == 0 || len(subgid) == 0 {
		return checkOK(found + " (not tried: no usable sub-ID ranges, see subids)")
	}
	uidMap, gidMap := idmap.Build(uid, uid, subuid), idmap.Build(gid, gid, subgid)
	if err := tryIDMaps(ctx, paths[0], paths[1], uidMap, gidMap); err != nil {
		return checkFail(found+", but writing a map failed: "+err.Error(), helperFix(err))
	}
	return checkOK(fmt.Sprintf("%s and wrote a map of %d IDs", found, mapSize(uidMap)))
}

// tryIDMaps writes the maps of a process in a new user namespace, as a run
// does, and kills the process.
func tryIDMaps(ctx context.Context, newuidmap, newgidmap string, uidMap, gidMap []idmap.Mapping) error {
	bin, err := exec.LookPath("sleep")
	if err != nil {
		bin = "/bin/sleep"
	}
	cmd := exec.CommandContext(ctx, bin, "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start a process in a new user namespace: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	return idmap.Apply(ctx, newuidmap, newgidmap, cmd.Process.Pid, uidMap, gidMap)
}

// helperFix is the fix a *idmap.HelperError names, or a pointer to subids.
func helperFix(err error) string {
	if _, fix, ok := strings.Cut(err.Error(), "to fix, "); ok {
		return fix
	}
	return "see the subids line"
}

func mapSize(m []idmap.Mapping) uint64 {
	var n uint64
	for _, e := range m {
		n += uint64(e.Count)
	}
	return n
}

func currentUser() (name string, uid, gid uint32) {
	uid, gid = uint32(os.Getuid()), uint32(os.Getgid())
	name = strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name, uid, gid
}

// checkSubIDs reads this user's ranges in /etc/subuid and /etc/subgid and
// their size. Without them runs use a single-ID map: a warning.
func checkSubIDs(_ context.Context, _ *checkEnv) checkResult {
	name, uid, _ := currentUser()
	var found []string
	var short []string
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		rs, err := idmap.LookupSubIDs(f, name, uid)
		if err != nil {
			return checkWarn(err.Error()+": runs use a single-ID map", "correct that line of "+f+" (as root): OWNER:START:COUNT")
		}
		if len(rs) == 0 {
			return checkWarn(fmt.Sprintf("no range for %s in %s: runs use a single-ID map (only your own ID exists inside)", name, f),
				subIDFix(name))
		}
		var n uint64
		var parts []string
		for _, r := range rs {
			n += uint64(r.Length)
			parts = append(parts, fmt.Sprintf("%d-%d", r.Start, uint64(r.Start)+uint64(r.Length)-1))
		}
		found = append(found, fmt.Sprintf("%s %s (%d IDs)", strings.TrimPrefix(f, "/etc/"), strings.Join(parts, ","), n))
		if n < 65536 {
			short = append(short, f)
		}
	}
	text := name + ": " + strings.Join(found, ", ")
	if len(short) > 0 {
		return checkWarn(text+": fewer than 65536 IDs, so tools that use IDs up to 65535 (apt, images) fail inside", subIDFix(name))
	}
	return checkOK(text)
}

// subIDFix is the usermod call (and the lines) that give name a free block of
// 65536 IDs in both files.
func subIDFix(name string) string {
	var taken []idmap.Range
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if fh, err := os.Open(f); err == nil {
			rs, _ := idmap.AllSubIDs(fh)
			fh.Close()
			taken = append(taken, rs...)
		}
	}
	line := idmap.SubIDLine(name, taken)
	f := strings.Split(line, ":")
	start, _ := strconv.ParseUint(f[1], 10, 32)
	count, _ := strconv.ParseUint(f[2], 10, 32)
	r := fmt.Sprintf("%d-%d", start, start+count-1)
	return fmt.Sprintf("sudo usermod --add-subuids %s --add-subgids %s %s (or add the line %q to /etc/subuid and /etc/subgid)", r, r, name, line)
}
