// Package feature is the test suites' probe engine: a test names the host
// features it needs, each probe does the real thing once per test binary, and a
// missing feature skips the test, printing why (or, with
// SANDBOX_TESTS_MUST_WORK=1 as in CI, fails it).
//
// Runs in the test binaries only, as the unprivileged user running the tests.
package feature

import (
	"bufio"
	"os"
	"strings"
	"sync"
	"testing"
)

// Set is a table of probes by feature name; its zero value is not usable: make
// one with New.
type Set[F ~string] struct {
	probes map[F]func() error
	once   sync.Map // F -> *result
}

type result struct {
	once sync.Once
	err  error
}

// New returns the set of probes.
func New[F ~string](probes map[F]func() error) *Set[F] { return &Set[F]{probes: probes} }

// Requires skips t unless every named feature works here.
func (s *Set[F]) Requires(t *testing.T, names ...F) {
	t.Helper()
	for _, n := range names {
		probe, ok := s.probes[n]
		if !ok {
			t.Fatalf("BUG: unknown feature %q in requires", n)
		}
		v, _ := s.once.LoadOrStore(n, &result{})
		r := v.(*result)
		r.once.Do(func() { r.err = probe() })
		if r.err == nil {
			continue
		}
		if os.Getenv("SANDBOX_TESTS_MUST_WORK") == "1" {
			t.Fatalf("requires %s: %v (SANDBOX_TESTS_MUST_WORK=1)", n, r.err)
		}
		t.Skipf("requires %s: %v", n, r.err)
	}
}

// HasSubIDs says whether an /etc/subuid style file has a range for the user
// given by name or numeric uid.
func HasSubIDs(path, name, uid string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) == 3 && (fields[0] == name || fields[0] == uid) {
			return true
		}
	}
	return false
}
