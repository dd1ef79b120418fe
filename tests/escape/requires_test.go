package escape

import (
	"testing"

	"sandbox/tests/feature"
)

// Feature is something of the host a test needs; the probes are package
// feature's, the one set every suite uses.
type Feature = feature.Name

// The features this suite needs.
const (
	UserNS      = feature.UserNS
	SubIDs      = feature.SubIDs
	Fuse        = feature.Fuse
	Script      = feature.Script
	Setpriv     = feature.Setpriv
	Setcap      = feature.Setcap
	UserBus     = feature.UserBus
	Landlock    = feature.Landlock
	Pasta       = feature.Pasta
	Slirp4netns = feature.Slirp4netns
)

var features = feature.New(feature.Probes())

// requires skips the test unless every feature works here, printing why. With
// SANDBOX_TESTS_MUST_WORK=1 (CI) a missing feature fails the test instead.
func requires(t *testing.T, fs ...Feature) {
	t.Helper()
	features.Requires(t, fs...)
}

// sbinPath finds an administrator's tool, in the sbin directories too.
func sbinPath(name string) (string, error) { return feature.SbinPath(name) }

// requiresController skips unless the host's cgroup2 hierarchy has the
// controller (feature.Controllers says when that is a failure).
func requiresController(t *testing.T, ctrl string) {
	t.Helper()
	feature.Controllers(t, ctrl)
}
