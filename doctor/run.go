package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"sandbox/profile"
)

// runResult is how one `sandbox [FLAGS] -- true` went.
type runResult struct {
	code   int
	stderr string // one line, without the "sandbox: " prefixes
	err    error  // could not start it, or it timed out
}

// runTimeout bounds one sandbox run of the check.
const runTimeout = 15 * time.Second

// sandboxTrue runs `sandbox FLAGS -- true` as a child, as the user would, but
// without the config file's [defaults] when flags test one feature.
func sandboxTrue(ctx context.Context, env *checkEnv, flags ...string) runResult {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.exe, append(flags, "--", "true")...)
	cmd.Env = os.Environ()
	if len(flags) > 0 {
		cmd.Env = append(cmd.Env, profile.Env+"=/dev/null")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := runResult{stderr: cleanStderr(stderr.String())}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code, r.err = -1, fmt.Errorf("no exit within %v", runTimeout)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code, r.err = -1, err
	}
	return r
}

// cleanStderr joins sandbox's stderr lines, without their "sandbox: ", its
// notes (the single-ID map's: the subids line says it) and diagnose's hints
// (the matching line says it).
func cleanStderr(s string) string {
	var parts []string
	for l := range strings.Lines(s) {
		l, _, _ = strings.Cut(l, "; hint: ")
		l = strings.TrimSpace(strings.TrimPrefix(l, "sandbox: "))
		if l != "" && !strings.HasPrefix(l, "note: ") {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func (r runResult) describe() string {
	if r.err != nil {
		return r.err.Error()
	}
	if r.stderr == "" {
		return fmt.Sprintf("exit %d", r.code)
	}
	// The fix goes in the line's fix, once.
	msg := r.stderr
	for _, mark := range []string{"; fix (as root): ", "; fix: ", "; to fix, "} {
		msg, _, _ = strings.Cut(msg, mark)
	}
	return fmt.Sprintf("exit %d: %s", r.code, msg)
}

// fix is the fix the run's error names, or a pointer to the other lines.
func (r runResult) fix() string {
	for _, mark := range []string{"fix (as root): ", "fix: ", "to fix, "} {
		if i := strings.LastIndex(r.stderr, mark); i >= 0 {
			fix := r.stderr[i+len(mark):]
			if mark == "fix (as root): " {
				fix = "(as root) " + fix
			}
			return fix
		}
	}
	return seeOtherLines
}

// seeOtherLines is fix's answer when the run's error names no fix.
const seeOtherLines = "see the other FAIL lines"

// checkRun runs `sandbox -- true` with the user's [defaults]: the exit status
// of the whole check.
func checkRun(ctx context.Context, env *checkEnv) checkResult {
	if !env.deep {
		return checkOK("not run")
	}
	start := time.Now()
	r := sandboxTrue(ctx, env)
	if r.code != 0 {
		return checkFail("sandbox -- true: "+r.describe(), r.fix())
	}
	found := fmt.Sprintf("sandbox -- true works (%d ms)", time.Since(start).Milliseconds())
	if r.stderr != "" {
		found += "; it said: " + r.stderr
	}
	return checkOK(found)
}

// checkOverlay runs a sandbox whose copy-on-write layers are all the kernel's
// overlayfs, mounted in its user namespace (Linux 5.11+).
func checkOverlay(ctx context.Context, env *checkEnv) checkResult {
	if !env.deep {
		return checkOK("not run")
	}
	r := sandboxTrue(ctx, env, "--overlay", "kernel")
	if r.code == 0 {
		return checkOK("kernel overlayfs mounts in a user namespace (sandbox --overlay kernel -- true works)")
	}
	found := "sandbox --overlay kernel -- true: " + r.describe()
	// auto falls back to fuse-overlayfs where the kernel refuses.
	if plain := sandboxTrue(ctx, env, "--overlay", "auto"); plain.code != 0 {
		return checkFail(found, r.fix()) // not the overlay's fault alone
	}
	fix := "Linux 5.11 or later mounts overlayfs in a user namespace"
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && !strings.Contains(string(b), "\toverlay\n") {
		found += " (the kernel has no overlay filesystem)"
		fix = "sudo modprobe overlay"
	}
	return checkWarn(found+"; --overlay auto works through fuse-overlayfs, several times slower", fix)
}

// checkConfig parses the config file.
func checkConfig(_ context.Context, env *checkEnv) checkResult {
	path, err := profile.File()
	if err != nil {
		return checkFail(err.Error(), "set HOME or XDG_CONFIG_HOME")
	}
	c, err := profile.Load(path, env.Grammar)
	if err != nil {
		return checkFail(err.Error(), "correct that line of "+path+" (see sandbox profiles --help)")
	}
	if !c.Exists() {
		return checkOK("no config file (" + path + "): no defaults, no profiles")
	}
	names := c.Names()
	found := fmt.Sprintf("%s: %d profiles", path, len(names))
	if len(names) > 0 {
		found += " (" + strings.Join(names, ", ") + ")"
	}
	if c.HasDefaults() {
		found += " and [defaults]"
		if _, err := c.Args(""); err != nil {
			return checkFail(err.Error(), "correct that line of "+path)
		}
	}
	for _, n := range names {
		if _, err := c.Args(n); err != nil {
			return checkWarn(err.Error(), "correct that line of "+path+"; the other profiles work")
		}
	}
	return checkOK(found)
}
