package tests

import (
	"strings"
	"testing"
)

// --uid 0 is root's group too, as podman's --user 0 (--gid says otherwise);
// and a chown in the copy-on-write view of the host (fuse-overlayfs) either
// works or fails, never answers success and changes nothing: with sub-IDs the
// file shows its new owner, with a single ID the chown fails. The host's
// system files still read as root's, and a file root makes is root's.
func TestUID0OwnersAndChown(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	script := `id -g; touch /opt/sb19-f && chown 5:6 /opt/sb19-f; echo chown=$?; stat -c 'f %u %g' /opt/sb19-f;
		stat -c 'hosts %u %g' /etc/hosts; mkdir /opt/sb19-d; stat -c 'd %u %g' /opt/sb19-d`
	r := sandbox(t, "", nil, "--uid", "0", "--", "sh", "-c", script)
	want := "0\nchown=0\nf 5 6\nhosts 0 0\nd 0 0"
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Errorf("--uid 0 with sub-IDs: exit %d, stderr %q:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	if r := sandbox(t, "", nil, "--uid", "0", "--gid", "7", "--", "id", "-g"); r.code != 0 || strings.TrimSpace(r.stdout) != "7" {
		t.Errorf("--uid 0 --gid 7: exit %d, %q, %q; want group 7", r.code, r.stdout, r.stderr)
	}
	r = sandbox(t, "", nil, "--uid", "0", "--map", "single", "--", "sh", "-c", script)
	if !strings.Contains(r.stdout, "chown=1\nf 0 0\n") || !strings.Contains(r.stdout, "hosts 0 0") {
		t.Errorf("--uid 0 with a single ID: exit %d, stderr %q:\n%s\nwant the chown refused and the file still root's", r.code, r.stderr, r.stdout)
	}
}
