package main

// `sandbox check`: each thing the sandbox needs, tried for real on this
// machine (a user namespace cloned, ID maps written, a systemd scope started,
// sandboxes run), one line each with the fix.
//
// Runs in the parent (host namespaces).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// CheckCmd is `sandbox check`.
type CheckCmd struct {
	JSON bool `name:"json" help:"Print a JSON array of {name, status, found, fix} instead."`
}

// Help is the detail of `sandbox check --help`.
func (CheckCmd) Help() string {
	return `Each line is ok, warn (an optional piece is missing: the flags that need it
are refused) or FAIL (a piece is there but does not work), what was found, and
the fix. Exit status 0 when a plain sandbox -- true works here, 1 when not.

Examples:
  sandbox check
  sandbox check --json | jq -r '.[] | select(.status != "ok") | .fix'`
}

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
	exe     string // the sandbox binary, for the runs
	deep    bool   // start sandboxes too (sandbox check; diagnose stays cheap)
	sysctl  string // /proc/sys
	devFuse string
	devTun  string
}

func hostCheckEnv(deep bool) *checkEnv {
	return &checkEnv{exe: "/proc/self/exe", deep: deep, sysctl: "/proc/sys", devFuse: "/dev/fuse", devTun: "/dev/net/tun"}
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

// Run prints the lines and sets the exit status: 0 when a plain run works.
func (c *CheckCmd) Run(code *int) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	results := runChecks(ctx, hostCheckEnv(true), checks)
	if err := printChecks(os.Stdout, results, c.JSON); err != nil {
		return err
	}
	*code = checkExit(results)
	return nil
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
