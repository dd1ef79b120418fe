package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"sandbox/systemdcgroup"
	"sandbox/userns"
)

// RunCmd is `sandbox run` (the default command).
type RunCmd struct {
	Hostname string   `help:"Host name inside (default: the host's)." placeholder:"NAME"`
	UID      int64    `name:"uid" default:"-1" help:"User ID inside (default: your own; 0 makes the command root inside)." placeholder:"ID"`
	GID      int64    `name:"gid" default:"-1" help:"Group ID inside (default: your own)." placeholder:"ID"`
	Env      []string `short:"e" sep:"none" help:"Set KEY=VAL inside; KEY alone passes the host's value (repeatable)." placeholder:"KEY=VAL"`
	ClearEnv bool     `name:"clearenv" help:"Start from an empty environment (then --env adds)."`
	Chdir    string   `short:"w" aliases:"workdir" help:"Directory to start in, inside (default: the current directory)." placeholder:"DIR"`
	Map      string   `enum:"auto,subids,single" default:"auto" help:"ID map: subids (your /etc/subuid ranges via newuidmap), single (only your own ID), auto (subids when possible, else single)."`
	RW       []string `name:"rw" sep:"none" help:"Bind host PATH read-write at DEST (default: the same path) (repeatable); naming a protected path (.git, .git/hooks, ~/.bashrc) opens it on purpose." placeholder:"PATH[:DEST]"`
	RO       []string `name:"ro" sep:"none" help:"Bind host PATH read-only at DEST (repeatable)." placeholder:"PATH[:DEST]"`
	Tmpfs    []string `sep:"none" help:"Mount an empty tmpfs at DEST (repeatable)." placeholder:"DEST"`
	Verbose  bool     `help:"Say what sandbox does, on stderr."`
	Profile  string   `help:"Apply [defaults], then [profile.NAME] of ~/.config/sandbox/config.toml, before these flags (see sandbox profiles)." placeholder:"NAME"`

	// podman's habits (run_compat.go).
	Volume      []string `short:"v" sep:"none" help:"Bind host SRC at DEST (default: the same path), read-write, or read-only with :ro, as podman's -v (repeatable)." placeholder:"SRC[:DEST][:ro]"`
	User        string   `short:"u" help:"User inside, as podman's --user: ID, NAME, ID:GID or NAME:GROUP, names from the sandbox's /etc/passwd and /etc/group." placeholder:"USER[:GROUP]"`
	EnvFile     []string `name:"env-file" sep:"none" help:"Set the variables of FILE (KEY=VAL or KEY a line, # comments) before --env's (repeatable)." placeholder:"FILE"`
	Unsetenv    []string `sep:"none" help:"Remove KEY from the command's environment (repeatable)." placeholder:"KEY"`
	Interactive bool     `short:"i" help:"Accepted for podman's -i: stdin always reaches the command."`
	TTY         bool     `short:"t" name:"tty" help:"Accepted for podman's -t: the terminal, if any, always reaches the command."`

	// podman's and docker's name and default.
	StopTimeout int `name:"stop-timeout" default:"10" help:"Seconds the command has to end after SIGTERM or SIGINT reaches sandbox before everything in the sandbox is killed (-1: wait for ever)." placeholder:"SECONDS"`
	ViewFlags
	NetFlags
	LockFlags
	CgroupFlags
	ImageFlags

	Cmd []string `arg:"" optional:"" passthrough:"" help:"The command and its arguments (after --; with --image, replaces its Cmd)." placeholder:"COMMAND"`

	argv []string // the command line kong parsed, profile flags included
}

// AfterApply keeps the command line kong parsed, with the flags withProfile
// added: userMounts walks it for the order of --rw/--ro/--tmpfs.
func (r *RunCmd) AfterApply(ctx *kong.Context) error {
	r.argv = ctx.Args
	return nil
}

// Validate checks the flags that kong cannot.
func (r *RunCmd) Validate(kctx *kong.Context) error {
	var args []string
	if kctx != nil {
		args = kctx.Args
	}
	return r.validate(args)
}

// validate is Validate for the command line args (the one kong parsed, or
// parseRunFast's).
func (r *RunCmd) validate(args []string) error {
	for _, id := range []struct {
		name string
		v    int64
	}{{"--uid", r.UID}, {"--gid", r.GID}} {
		if id.v < -1 || id.v >= math.MaxUint32 {
			return fmt.Errorf("%s %d: out of range (0 to %d)", id.name, id.v, uint32(math.MaxUint32-1))
		}
	}
	if r.StopTimeout < -1 {
		return fmt.Errorf("--stop-timeout %d: want seconds (0 or more), or -1 to wait for ever", r.StopTimeout)
	}
	// kong reads each word as UTF-8 and turns a byte that is not into
	// U+FFFD; the command's words go through as they were given.
	r.Cmd = rawWords(args, r.Cmd)
	// kong keeps the "--" in a passthrough argument when the command was
	// named (`sandbox run -- make`); it is ours, not the user's.
	if len(r.Cmd) > 0 && r.Cmd[0] == "--" {
		r.Cmd = r.Cmd[1:]
	}
	// With a passthrough argument kong takes an unknown flag for the start
	// of the command; no command starts with "-". But with --image, words
	// after "--" may be arguments of the entrypoint (`--entrypoint sh -- -c
	// CMD`); applyImage refuses them where the image has none.
	if len(r.Cmd) > 0 && strings.HasPrefix(r.Cmd[0], "-") && (r.Image == "" || !afterDashes(args, r.Cmd)) {
		return fmt.Errorf("unknown flag %s", r.Cmd[0])
	}
	if len(r.Cmd) == 0 && r.Image == "" || len(r.Cmd) > 0 && r.Cmd[0] == "" {
		return fmt.Errorf("no command given: usage: sandbox [FLAGS] -- COMMAND [ARG...]")
	}
	if err := r.validateCompat(); err != nil {
		return err
	}
	if err := r.ViewFlags.validate(); err != nil {
		return err
	}
	if err := r.NetFlags.validate(); err != nil {
		return err
	}
	return r.CgroupFlags.validate()
}

// rawWords gives back the words of args that kong read as cmd (its last
// len(cmd) words) as they were before kong decoded them, or cmd as it is
// where they are not those words.
func rawWords(args, cmd []string) []string {
	if len(cmd) > len(args) {
		return cmd
	}
	tail := args[len(args)-len(cmd):]
	for i := range cmd {
		if cmd[i] != tail[i] && cmd[i] != string([]rune(tail[i])) {
			return cmd
		}
	}
	return slices.Clone(tail)
}

// Run plans the sandbox, starts it and waits for the command.
func (r *RunCmd) Run(code *int, pre *userns.Started) error {
	log := newLogger(r.Verbose)
	spec, v, err := r.plan(log)
	if err != nil {
		return err
	}
	status := exitSetup
	defer func() { v.close(r.Cmd, status) }()
	nr, err := r.netPlan(spec, v)
	if err != nil {
		return err
	}
	defer nr.close()
	var scope *scopeRun
	if r.wantScope() {
		scope = newScopeRun(&r.CgroupFlags, r.Cmd)
		spec.Place = scope.place
		spec.Config.CgroupScope = true
		spec.Config.CgroupWritable = spec.Config.UID == 0
	} else {
		log.Debug("no cgroup: no limit asked for")
	}
	if err := r.finishView(&spec.Config, v, scope != nil); err != nil {
		return err
	}
	start := time.Now()
	res, err := userns.Run(context.Background(), spec, pre)
	var st systemdcgroup.Stats
	var haveStats bool
	if scope != nil {
		st, haveStats = scope.finish(log)
	}
	if err != nil {
		return err
	}
	u := usageOf(time.Since(start), res, st, haveStats)
	if u.OOMKills > 0 && res.Signal == 9 {
		fmt.Fprintf(os.Stderr, "sandbox: command killed: out of memory (limit %s)\n", r.Memory)
	}
	if err := r.printUsage(u, res); err != nil {
		return err
	}
	v.finished(res, r.Quiet)
	*code, status = res.Status, res.Status
	return nil
}

// plan turns the flags into a userns.Spec: IDs, environment, mounts.
func (r *RunCmd) plan(log *slog.Logger) (*userns.Spec, *view, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, nil, fmt.Errorf("get current directory: %w", err)
	}
	realCwd, err := filepath.EvalSymlinks(cwd)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve current directory: %w", err)
	}
	if r.Image != "" {
		if err := r.applyImage(log); err != nil {
			return nil, nil, err
		}
	}
	if err := r.applyUser(); err != nil {
		return nil, nil, err
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	inUID, inGID := uid, gid
	if r.UID >= 0 {
		inUID = uint32(r.UID)
	}
	if r.GID >= 0 {
		inGID = uint32(r.GID)
	}
	maps, err := r.runMaps(inUID, inGID, uid, gid)
	if err != nil {
		return nil, nil, err
	}
	caps, filter, err := r.lockDown(inUID == 0)
	if err != nil {
		return nil, nil, err
	}
	env, err := r.environment()
	if err != nil {
		return nil, nil, err
	}
	v, mounts, err := r.mounts(realCwd, log)
	if err != nil {
		return nil, nil, err
	}
	v.maps, _ = planMapsQuiet(r.Map, uid, gid)
	dir := realCwd
	if r.Rootfs != "" {
		dir = "/"
	}
	if r.Chdir != "" {
		dir = r.Chdir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(realCwd, dir)
		}
	}
	spec := &userns.Spec{
		Config: userns.Config{
			Argv: r.Cmd, Env: env, Dir: dir, UID: inUID, GID: inGID,
			Hostname: r.Hostname, Mounts: mounts, Verbose: r.Verbose,
			Caps: caps, Seccomp: filter, StopTimeout: r.StopTimeout,
			NoMask: r.AllowNested,
		},
		Maps: maps,
	}
	r.imageGroups(spec)
	if needsFuse(mounts) {
		// Init runs with an empty environment: it gets the helper's path.
		spec.Config.FuseOverlayfs, _ = exec.LookPath("fuse-overlayfs")
		if spec.Config.FuseOverlayfs == "" && r.Overlay == "fuse" {
			v.close(nil, 0)
			return nil, nil, fmt.Errorf("--overlay fuse: fuse-overlayfs not found; fix: apt install fuse-overlayfs")
		}
	}
	return spec, v, nil
}

func needsFuse(mounts []userns.Mount) bool {
	for _, m := range mounts {
		if m.Fuse || m.FuseFallback {
			return true
		}
	}
	return false
}

func resolveSource(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "", fmt.Errorf("%s: %w (fix the path, or create it first)", p, pe.Err)
	}
	return real, err
}

func runtimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	d := fmt.Sprintf("/run/user/%d", os.Getuid())
	if _, err := os.Stat(d); err == nil {
		return d
	}
	return ""
}

type mountFlag struct{ flag, value string }

// orderedMountFlags returns the --rw/--ro/--tmpfs values in command-line order
// (a -v as the --rw or --ro it means): kong keeps the values of each flag in
// order, and this walk over argv only recovers how the kinds interleave.
func orderedMountFlags(args []string, r *RunCmd) []mountFlag {
	queue := map[string][]string{"--rw": r.RW, "--ro": r.RO, "--tmpfs": r.Tmpfs, "--volume": r.Volume}
	var out []mountFlag
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		name, _, inline := strings.Cut(args[i], "=")
		if strings.HasPrefix(args[i], "-v") {
			name, inline = "--volume", len(args[i]) > 2 // -v SRC, or -vSRC
		}
		vals := queue[name]
		if len(vals) == 0 {
			continue
		}
		if !inline {
			i++ // the value is the next argument
		}
		f := mountFlag{name, vals[0]}
		if name == "--volume" {
			f, _ = volumeFlag(vals[0]) // checked by Validate
		}
		out = append(out, f)
		queue[name] = vals[1:]
	}
	return out
}

func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("stage", "parent")
}
