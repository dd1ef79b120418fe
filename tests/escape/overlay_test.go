package escape

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Writes through links made in the upper layer never reach a lower (host)
// file: a symlink in /etc's or /usr's upper pointing at a host file, a hard
// link next to it, the file itself; in the default kernel overlay, in the
// fuse-overlayfs root of --uid 0, and with --cow for the current directory.
func TestOverlayLinks(t *testing.T) {
	inModes(t, func(t *testing.T, m mode) {
		victims := workdir(t) // not the current directory: the host's, seen copy-on-write
		v := filepath.Join(victims, "v")
		writeFile(t, v, "victim\n", 0o644)
		cwd := workdir(t)
		own := filepath.Join(cwd, "own")
		writeFile(t, own, "own\n", 0o644)
		guard(t, victims, "/etc/hostname")
		args := m.args
		if m.name == "cow" {
			name := "escape-cow-" + token()
			t.Cleanup(func() { sandbox(t, "rm", name) })
			args = []string{"--cow", "--name", name}
		}
		script := fmt.Sprintf(`v=%q; own=%q
			ln -s "$v" /etc/escape-sym && echo through-etc-symlink >> /etc/escape-sym
			ln -s "$v" /usr/escape-sym && echo through-usr-symlink >> /usr/escape-sym
			ln "$v" "$v.hard" && echo through-hardlink >> "$v.hard"
			echo direct >> "$v"
			ln -s "$v" /tmp/sym && echo through-tmp-symlink >> /tmp/sym
			cat "$v"`, v, own)
		if m.name == "cow" {
			script += fmt.Sprintf(`; echo cow >> %q; cat %q`, own, own)
		}
		r := run{dir: cwd}.sandbox(t, append(args, "--", "sh", "-c", script)...)
		if r.code != 0 {
			t.Fatalf("%s: %s", m.name, r)
		}
		// Inside, every write landed (in the upper layer): the attempts
		// really happened.
		for _, w := range []string{"through-etc-symlink", "through-usr-symlink", "through-hardlink", "direct", "through-tmp-symlink"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: the write %s did not happen inside, the case proves less than it should:\n%s", m.name, w, r)
			}
		}
		if _, err := os.Lstat(v + ".hard"); err == nil {
			t.Errorf("%s: the hard link made inside exists on the host", m.name)
		}
		if m.name == "cow" {
			if b, _ := os.ReadFile(own); string(b) != "own\n" {
				t.Errorf("--cow: a write to the current directory reached the host: %q", b)
			}
		}
	}, defaultMode, root, mode{name: "cow"})
}

// A setuid binary or one with file capabilities gains nothing inside: the
// command runs with no_new_privs. Root inside makes a setuid-root copy of id
// and a copy of cat with CAP_DAC_OVERRIDE and CAP_NET_RAW (both in root's
// bounding set, so the exec itself is allowed) in the current directory (a
// bind of the host's, so it is not nosuid: only no_new_privs stands in the
// way), then runs them as another ID.
func TestSetuidGainsNothing(t *testing.T) {
	requires(t, UserNS, SubIDs, Fuse, Setpriv, Setcap)
	guard(t)
	getcap, _ := sbinPath("getcap")
	// setpriv keeps the capabilities of root it starts with; escapee runas
	// lets the kernel clear them, as su would: only then could a file
	// capability be a gain.
	script := fmt.Sprintf(`e=%q
		cp /usr/bin/id ./suid-id && chmod 4755 ./suid-id && stat -c 'mode %%a' ./suid-id
		setpriv --reuid 1000 --regid 1000 --clear-groups ./suid-id -u | sed 's/^/euid-setpriv /'
		$e runas 1000 1000 ./suid-id -u | sed 's/^/euid-runas /'
		cp $e ./fcap-escapee && $e setfcap ./fcap-escapee && %s ./fcap-escapee | sed 's/^/getcap /'
		$e runas 1000 1000 ./fcap-escapee status`, escapee, getcap)
	// Mode 755, so that the other ID may run what is in it.
	dir := workdir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := run{dir: dir}.sandbox(t, "--uid", "0", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if r.get("mode") != "4755" || !strings.Contains(r.get("getcap"), "cap_net_raw") {
		t.Fatalf("the setuid bit or the file capability was not set, the case proves nothing:\n%s", r)
	}
	expect(t, r, "", map[string][]string{
		"euid-setpriv": {"1000"},
		"euid-runas":   {"1000"},
		"uid":          {"1000"},
		"euid":         {"1000"},
		"CapEff":       {"0000000000000000"},
		"CapPrm":       {"0000000000000000"},
		"NoNewPrivs":   {"1"},
	})
}

// `sandbox commit` never writes through a symlink out of the target tree: a
// directory on the way replaced by a link to elsewhere on the host is refused
// (also with --force), and a file replaced by a link is replaced, never
// written through.
func TestCommitRefusesSymlinks(t *testing.T) {
	requires(t, UserNS)
	tree, outside := workdir(t), workdir(t)
	writeFile(t, filepath.Join(tree, "sub", "f"), "old\n", 0o644)
	writeFile(t, filepath.Join(tree, "file"), "old\n", 0o644)
	writeFile(t, filepath.Join(outside, "f"), "outside\n", 0o644)
	writeFile(t, filepath.Join(outside, "file"), "outside\n", 0o644)
	name := "escape-commit-" + token()
	t.Cleanup(func() { sandbox(t, "rm", name) })
	must(t, "--name", name, "--cow", "--chdir", tree, "--", "sh", "-c", "echo new > sub/f; echo added > sub/g; echo new > file")

	// On the host, the directory and the file the commit would write to
	// become links out of the tree.
	if err := os.Rename(filepath.Join(tree, "sub"), filepath.Join(tree, "sub.orig")); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{outside, "sub"}, {filepath.Join(outside, "file"), "file"}} {
		os.Remove(filepath.Join(tree, l[1]))
		if err := os.Symlink(l[0], filepath.Join(tree, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	guard(t, outside, filepath.Join(tree, "sub.orig"), filepath.Join(tree, "sub"))
	for _, args := range [][]string{{"commit", name}, {"commit", "--force", name}} {
		r := sandbox(t, args...)
		if r.code != 125 || !strings.Contains(r.stderr, "symlink") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("sandbox %s with a symlink on the way: want exit 125 and one line naming the symlink, got %s", strings.Join(args, " "), r)
		}
	}
	// Only the file: a commit may replace the link (a new inode, renamed
	// over it), never write into what it points at.
	r := sandbox(t, "commit", "--force", name, filepath.Join(tree, "file"))
	if st, err := os.Lstat(filepath.Join(tree, "file")); r.code == 0 && (err != nil || !st.Mode().IsRegular()) {
		t.Errorf("commit of a file replaced by a link on the host: exit 0 but %s is %v, %v", filepath.Join(tree, "file"), st, err)
	}
}
