// Package doctor is `sandbox check`: each thing the sandbox needs, tried for
// real on this machine (a user namespace cloned, ID maps written, a systemd
// scope started, sandboxes run), one line each with the fix; and Diagnose,
// which runs the one check that explains a failed run's error, for its hint.
//
// Runs in the parent (host namespaces); the runs it tries are children of the
// sandbox binary (/proc/self/exe), started as the user would start them.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"sandbox/profile"
)

// Help is the detail of `sandbox check --help`.
const Help = `Each line is ok, warn (an optional piece is missing: the flags that need it
are refused) or FAIL (a piece is there but does not work), what was found, and
the fix. Exit status 0 when a plain sandbox -- true works here, 1 when not.

Examples:
  sandbox check
  sandbox check --json | jq -r '.[] | select(.status != "ok") | .fix'`

// Deps is what the checks need of the rest of sandbox, which main owns and
// passes in.
type Deps struct {
	// MemLayers says whether a plain run keeps its layers in memory here
	// (then a read-only data directory only hurts the runs on disk).
	MemLayers func() bool
	// Size prints a byte count as sandbox prints sizes elsewhere (2.0GiB).
	Size func(uint64) string
	// Grammar is kong's model of `sandbox run`, to check the config file.
	Grammar profile.Grammar
}

// setupFailed is the exit status of a run whose setup failed (main's
// exitSetup); other statuses of a child error are the command's own.
const setupFailed = 125

// Statuses of a check line.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "FAIL"
)

// checkResult is one line of `sandbox check`.
type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Found  string `json:"found"`
	Fix    string `json:"fix"`
}

// checkEnv is what the checks look at: the real machine, or a stand-in in
// unit tests.
type checkEnv struct {
	Deps
	exe     string // the sandbox binary, for the runs
	deep    bool   // start sandboxes too (sandbox check; diagnose stays cheap)
	sysctl  string // /proc/sys
	devFuse string
	devTun  string
}

func hostCheckEnv(deep bool, d Deps) *checkEnv {
	return &checkEnv{Deps: d, exe: "/proc/self/exe", deep: deep, sysctl: "/proc/sys", devFuse: "/dev/fuse", devTun: "/dev/net/tun"}
}

type checkFunc func(ctx context.Context, env *checkEnv) checkResult

// namedCheck is a check and the name of its line.
type namedCheck struct {
	name string
	fn   checkFunc
}

// runName is the check whose result is the exit status: a plain run.
const runName = "run"

// checks are the lines of `sandbox check`, in order.
var checks = []namedCheck{
	{"userns", checkUserNS},
	{"newuidmap", checkIDHelpers},
	{"subids", checkSubIDs},
	{"seccomp", checkSeccomp},
	{"data-dir", checkDataDir},
	{"config", checkConfig},
	{runName, checkRun},
	{"overlay", checkOverlay},
	{"fuse", checkFuse},
	{"network", checkNetwork},
	{"systemd", checkSystemd},
}

// checkTimeout bounds the whole check; each sandbox run is one of many.
const checkTimeout = 20 * time.Second

// runChecks runs every check at once (each is independent) and returns the
// results in list order.
func runChecks(ctx context.Context, env *checkEnv, list []namedCheck) []checkResult {
	out := make([]checkResult, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Go(func() {
			r := c.fn(ctx, env)
			r.Name = c.name
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// Check runs every check on this machine and writes the lines to w (a JSON
// array when asJSON). The exit status is 0 when a plain run works, else 1.
func Check(w io.Writer, asJSON bool, d Deps) (code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	results := runChecks(ctx, hostCheckEnv(true, d), checks)
	if err := printChecks(w, results, asJSON); err != nil {
		return 0, err
	}
	return checkExit(results), nil
}

// checkExit is 0 when the plain run worked, else 1.
func checkExit(results []checkResult) int {
	for _, r := range results {
		if r.Name == runName && r.Status == statusOK {
			return 0
		}
	}
	return 1
}

func printChecks(w io.Writer, results []checkResult, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	for _, r := range results {
		if _, err := fmt.Fprintln(w, r.line()); err != nil {
			return err
		}
	}
	return nil
}

// line is "STATUS  NAME       found; fix: fix", one line whatever found holds.
func (r checkResult) line() string {
	s := fmt.Sprintf("%-4s  %-9s  %s", r.Status, r.Name, r.Found)
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	return checkOneLine(s)
}

// checkOneLine joins the lines of s with "; ".
func checkOneLine(s string) string {
	var parts []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func checkOK(found string) checkResult { return checkResult{Status: statusOK, Found: found} }

func checkWarn(found, fix string) checkResult {
	return checkResult{Status: statusWarn, Found: found, Fix: fix}
}

func checkFail(found, fix string) checkResult {
	return checkResult{Status: statusFail, Found: found, Fix: fix}
}
