package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianRootfsEnv names a Debian 12 minbase rootfs tarball (mmdebstrap
// --variant=minbase bookworm FILE.tar); .ci/run builds it, cached in
// /var/cache/sandbox-ci.
const debianRootfsEnv = "SANDBOX_TEST_DEBIAN_ROOTFS"

// The case issue 17 was opened for: apt-get install as root in a clean
// Debian, which fails on the host's tree (apt's locks are root's). The rootfs
// is imported as an image; apt-get fetches from Debian's mirror through
// --net user; diff lists what dpkg wrote, as the command saw it, even where
// apt wrote as _apt (a sub-ID on the host, in a 0700 directory); commit is
// refused; rm removes it all.
func TestImageDebianAptInstall(t *testing.T) {
	requires(t, UserNS, NewUIDMap, SubUID)
	tarball := os.Getenv(debianRootfsEnv)
	if tarball == "" {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatal(debianRootfsEnv + " is not set: .ci/run builds the Debian 12 rootfs with mmdebstrap")
		}
		t.Skip("requires " + debianRootfsEnv + "=FILE: a Debian 12 rootfs tarball " +
			"(as root: mmdebstrap --variant=minbase bookworm FILE.tar; .ci/run makes one)")
	}
	env, _ := imageEnv(t)
	ref := "deb12-" + filepath.Base(workdir(t))
	if r := runFor(t, 2*time.Minute, env, "import", tarball, ref); r.code != 0 {
		t.Fatalf("import %s: exit %d: %s", tarball, r.code, r.stderr)
	}
	r := sandbox(t, "", env, "--image", ref, "--", "sh", "-c", "cat /etc/debian_version; command -v hello || echo no-hello")
	if got := lines(r.stdout); r.code != 0 || len(got) != 2 || !strings.HasPrefix(got[0], "12.") || got[1] != "no-hello" {
		t.Fatalf("the image: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}

	name := "apt-" + filepath.Base(workdir(t))
	t.Cleanup(func() { sandbox(t, "", env, "rm", name) })
	r = runFor(t, 5*time.Minute, env, "--uid", "0", "--net", "user", "--name", name, "--image", ref,
		"-e", "DEBIAN_FRONTEND=noninteractive", "--",
		"sh", "-c", "apt-get update -q && apt-get install -y -q --no-install-recommends hello")
	if r.code != 0 {
		t.Fatalf("apt-get install hello: exit %d\n%s\n%s", r.code, tailOf(r.stdout, 2000), r.stderr)
	}
	// The named sandbox keeps it; the image does not have it.
	if r := sandbox(t, "", env, "--name", name, "--image", ref, "--", "hello"); r.code != 0 || r.stdout != "Hello, world!\n" {
		t.Errorf("hello in the sandbox: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := sandbox(t, "", env, "--image", ref, "--", "sh", "-c", "command -v hello || echo no-hello"); r.stdout != "no-hello\n" {
		t.Errorf("the image changed: %q %s", r.stdout, r.stderr)
	}

	r = sandbox(t, "", env, "diff", name)
	if r.code != 0 {
		t.Fatalf("diff: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"A /usr/bin/hello\n", "A /usr/share/man/man1/hello.1.gz\n", "M /var/lib/dpkg/status\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, tailOf(r.stdout, 3000))
		}
	}
	for _, l := range lines(r.stdout) {
		if len(l) < 4 || !strings.Contains("AMD", l[:1]) || l[1:3] != " /" || strings.Contains(l, ".images") {
			t.Errorf("diff line %q: not a change as the command saw it", l)
		}
	}
	if r := sandbox(t, "", env, "diff", "--stat", name); r.code != 0 || !strings.Contains(r.stdout, " added, ") {
		t.Errorf("diff --stat: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = sandbox(t, "", env, "commit", name)
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "image") {
		t.Errorf("commit into an image: exit %d %q", r.code, r.stderr)
	}
	// Files of sub-IDs (apt's _apt) inside: rm removes them too.
	if r := sandbox(t, "", env, "rm", name); r.code != 0 {
		t.Fatalf("rm: exit %d: %s", r.code, r.stderr)
	}
	if r := sandbox(t, "", env, "ls"); strings.Contains(r.stdout, name) {
		t.Errorf("ls after rm still lists %s: %q", name, r.stdout)
	}
}
