package tests

import (
	"testing"

	"sandbox/tests/feature"
)

// Feature is something of the host a test needs; the probes are package
// feature's, the one set every suite uses.
type Feature = feature.Name

// The features this suite needs.
const (
	UserNS    = feature.UserNS
	NewUIDMap = feature.NewUIDMap
	SubUID    = feature.SubUID
	NotRoot   = feature.NotRoot
	UserBus   = feature.UserBus
	Python3   = feature.Python3
)

var (
	probes   = feature.Probes()
	features = feature.New(probes)
)

// requires skips the test unless every feature works here, printing why. With
// SANDBOX_TESTS_MUST_WORK=1 (CI) a missing feature fails the test instead.
func requires(t *testing.T, fs ...Feature) {
	t.Helper()
	features.Requires(t, fs...)
}

// requiresControllers skips unless the host's cgroup2 hierarchy has every
// controller named (feature.Controllers says when that is a failure).
func requiresControllers(t *testing.T, ctrls ...string) {
	t.Helper()
	feature.Controllers(t, ctrls...)
}

func cgroup2Root() string { return feature.Cgroup2Root() }
