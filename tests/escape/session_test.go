package escape

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The session's services stay out of reach through the environment: the
// variables that hand them out are dropped, and /run/user/UID (where the
// D-Bus, agent and Wayland sockets live) is an empty tmpfs inside.
func TestSessionServices(t *testing.T) {
	requires(t, UserNS)
	rundir := fmt.Sprintf("/run/user/%d", os.Getuid())
	if _, err := os.Stat(rundir); err != nil {
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("requires %s on the host: %v (SANDBOX_TESTS_MUST_WORK=1; tests/testenv.sh makes it)", rundir, err)
		}
		t.Skipf("requires %s on the host: %v", rundir, err)
	}
	guard(t)
	env := []string{
		"SSH_AUTH_SOCK=" + filepath.Join(rundir, "ssh-agent.sock"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(rundir, "bus"),
		"DISPLAY=:0", "XAUTHORITY=" + filepath.Join(home, ".Xauthority"),
		"WAYLAND_DISPLAY=wayland-0", "XDG_RUNTIME_DIR=" + rundir,
	}
	r := mustEnv(t, env, "--", "sh", "-c", "env; "+escapee+" do empty:"+rundir+" exists:"+rundir+"/bus; "+escapee+" connect unix "+rundir+"/bus")
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, k+"=") {
				t.Errorf("%s reached the command: %q", k, l)
			}
		}
	}
	expect(t, r, "", map[string][]string{
		"empty:" + rundir:           {"OK", "ENOENT"}, // /run is an empty tmpfs inside
		"exists:" + rundir + "/bus": {"ENOENT"},
		"connect":                   {"ENOENT"},
	})
}

// mustEnv runs the sandbox with env added and fails the test unless it exits 0.
func mustEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := run{env: env}.sandbox(t, args...)
	if r.code != 0 {
		t.Fatalf("sandbox %q: %s", args, r)
	}
	return r
}
