package escape

import "testing"

// mode is a way to run the sandbox that a case is tried in.
type mode struct {
	name  string
	args  []string
	needs []Feature
}

var (
	// defaultMode is `sandbox -- CMD`: the caller's own ID, no capability.
	defaultMode = mode{name: "default"}
	// rootAll is root inside with every capability of the sandbox's user
	// namespace (and the fuse-overlayfs root that --uid 0 brings): what is
	// refused there is refused by design, not for want of a capability.
	rootAll = mode{name: "uid0-capall", args: []string{"--uid", "0", "--cap-add", "ALL"}, needs: []Feature{Fuse}}
	// root is root inside with Docker's default capabilities.
	root = mode{name: "uid0", args: []string{"--uid", "0"}, needs: []Feature{Fuse}}
)

// inModes runs f as a subtest for each mode.
func inModes(t *testing.T, f func(t *testing.T, m mode), modes ...mode) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			requires(t, append([]Feature{UserNS}, m.needs...)...)
			f(t, m)
		})
	}
}

// with returns the mode's flags followed by args.
func (m mode) with(args ...string) []string {
	return append(append([]string{}, m.args...), args...)
}
