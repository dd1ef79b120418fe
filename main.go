// The Go runtime (1.25+) opens the CPU cgroup's quota files at start and
// keeps them open to follow the quota: on a host with cgroup v1 hierarchies
// that is a descriptor of a host file in init, which init's check refuses to
// carry into the sandbox (and sandbox sets no GOMAXPROCS from a quota anyway).
// Off, the runtime only peeks at them once and closes them. Init is this
// binary with an empty environment, so no GODEBUG turns it back on there.
//
//go:debug containermaxprocs=0

// Command sandbox runs a command in a rootless sandbox: new user, mount, PID,
// IPC, UTS, network and cgroup namespaces, a copy-on-write view of the host with
// the current directory writable, and a small init as PID 1.
//
// main.go holds the CLI (kong) and the exit-code mapping; the parent's plan is
// in run.go, the namespaces in package userns.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"sandbox/doctor"
	"sandbox/network"
	"sandbox/ocicmd"
	"sandbox/profile"
	"sandbox/userns"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses of sandbox itself (the command's own status passes through).
const (
	exitSetup       = 125 // sandbox failed: bad flag, failed setup
	exitNotExec     = 126 // the command exists but cannot be executed
	exitNotFound    = 127 // the command was not found
	exitSignalsBase = 128 // the command died of signal N: 128+N
)

func init() {
	// The thread that starts init must outlive it: PR_SET_PDEATHSIG fires
	// when the forking *thread* exits (go.dev/issue/27505). Locking main's
	// goroutine to the main thread, which lives as long as the process, is
	// the simplest way to guarantee that.
	runtime.LockOSThread()
}

// CLI is the command line. `run` is the default command, so
// `sandbox [FLAGS] -- COMMAND` works without naming it.
type CLI struct {
	Run     RunCmd     `cmd:"" default:"withargs" help:"Run COMMAND in a new sandbox (the default command)."`
	Diff    DiffCmd    `cmd:"" help:"List what a named sandbox changed: A added, M modified, D deleted."`
	Commit  CommitCmd  `cmd:"" help:"Apply a named sandbox's changes to the host (all, or under PATHs)."`
	Ls      LsCmd      `cmd:"" help:"List the named sandboxes."`
	Rm      RmCmd      `cmd:"" help:"Remove named sandboxes."`
	Path    PathCmd    `cmd:"" help:"Print where a named sandbox keeps its changes, per host directory."`
	Seccomp SeccompCmd `cmd:"" help:"Seccomp profiles."`
	Version VersionCmd `cmd:"" help:"Print the version."`

	Check      CheckCmd      `cmd:"" help:"Try, for real, what sandbox needs on this machine: one line each with the fix."`
	Profiles   ProfilesCmd   `cmd:"" help:"List the profiles of ~/.config/sandbox/config.toml (sandbox --profile NAME -- COMMAND)."`
	Completion CompletionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`

	Pull   PullCmd   `cmd:"" help:"Pull an image into the store (see --image)." group:"Images"`
	Images ImagesCmd `cmd:"" help:"List the images in the store." group:"Images"`
	Rmi    RmiCmd    `cmd:"" help:"Remove images, and the layers no other image uses." group:"Images"`
	Image  ImageCmd  `cmd:"" help:"Image store: prune, inspect." group:"Images"`
	Import ImportCmd `cmd:"" help:"Make an image of a root filesystem tarball." group:"Images"`
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(code *int) error {
	fmt.Println("sandbox", version)
	return nil
}

func main() {
	// Nothing we inherited beyond stdio passes on: a descriptor the caller
	// left open without close-on-exec (a host directory, a socket) would
	// otherwise reach init across its exec (runc CVE-2024-21626).
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	// Role first: a re-executed init never parses the user's argv.
	switch os.Getenv(userns.StageEnv) {
	case userns.StageInit:
		os.Exit(userns.Init())
	case userns.StageRemove:
		os.Exit(userns.Remove(os.Args[1:]))
	case network.StageKeep:
		os.Exit(network.Keep(os.Args[1:]))
	}
	// sandbox-runc, the OCI runtime, is this binary under another name.
	if filepath.Base(os.Args[0]) == "sandbox-runc" {
		os.Exit(ocicmd.Main(os.Args[1:], version))
	}
	os.Exit(runCLI(os.Args[1:]))
}

// subcommands are the CLI's commands other than run (TestSubcommands keeps the
// list in step with CLI).
var subcommands = []string{"run", "diff", "commit", "ls", "rm", "path", "seccomp", "version", "check", "profiles", "completion", "pull", "images", "rmi", "image", "import"}

// prestart starts the sandbox's init before kong has even parsed the flags, when
// the command line is a plain `sandbox [FLAGS] -- COMMAND` that keeps the default
// network: init's Go runtime then starts while the parent plans. Start-up time
// is a product feature; an init started in vain is killed (and dies with us
// anyway).
func prestart(args []string) *userns.Started {
	i := slices.Index(args, "--")
	if i < 0 || i == len(args)-1 || (len(args) > 0 && slices.Contains(subcommands, args[0])) {
		return nil
	}
	for _, a := range args[:i] {
		if a == "--help" || a == "-h" {
			return nil
		}
	}
	return userns.Start(netArgsHost(args))
}

func runCLI(args []string) int {
	// [defaults] and --profile's flags go ahead of the user's own: the
	// command line wins.
	args, err := withProfile(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return exitSetup
	}
	args = profile.ClearEmpty(args, runGrammar) // --FLAG= : back to the default
	pre := prestart(args)
	defer pre.Close()
	if pre != nil {
		if code, ok := runFast(args, pre); ok {
			return code
		}
	}
	var cli CLI
	code := 0
	parser, err := kong.New(&cli,
		kong.Name("sandbox"),
		kong.Description("Run a command in a rootless sandbox: its own user, PID, mount, IPC, UTS, network and cgroup namespaces, a copy-on-write view of the host (nothing reaches it) with the current directory writable.\n\nExamples:\n  sandbox -- make\n  sandbox --uid 0 -- sh -c 'id; ps ax'\n  sandbox --rw ~/.cache/go-build --share-net -- go build ./..."),
		kong.UsageOnError(),
		kong.Exit(func(c int) { code = c; panic(exitNow{}) }),
		kong.Bind(&code, pre),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: internal error: %v\n", err)
		return exitSetup
	}
	// kong exits after --help (status 0) and on some parse errors; turn that
	// into a return so only main calls os.Exit.
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitNow); !ok {
				panic(r)
			}
			if code != 0 {
				code = exitSetup
			}
		}
	}()
	ctx, err := parser.Parse(withRun(parser, args))
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %s\n", parseErrorLine(args, err))
		return exitSetup
	}
	if err := ctx.Run(); err != nil {
		return report(err)
	}
	return code
}

type exitNow struct{}

// runOnly is the CLI of a plain `sandbox [FLAGS] -- COMMAND` (the form
// prestart accepts): the run command alone, whose flags are RunCmd's, the
// same source of truth. kong builds its model for every run, on the start-up
// path, and the run command's alone costs about a third less than the whole
// CLI's with every other command's (issue 15).
type runOnly struct {
	Run RunCmd `cmd:"" default:"withargs"`
}

// runFast parses and runs args with parseRunFast (fastparse.go), or else with
// runOnly. It declines (ok false) where the parse fails, having printed
// nothing: the whole CLI then parses again and says why in its own words
// (suggestions name the other commands too).
func runFast(args []string, pre *userns.Started) (code int, ok bool) {
	if r, ok := parseRunFast(args); ok {
		if err := r.Run(&code, pre); err != nil {
			return report(err), true
		}
		return code, true
	}
	var cli runOnly
	parser, err := kong.New(&cli, kong.Name("sandbox"),
		kong.Exit(func(int) { panic(exitNow{}) }),
		kong.Bind(&code, pre))
	if err != nil {
		return 0, false
	}
	if len(args) == 0 || args[0] != "run" {
		args = append([]string{"run"}, args...)
	}
	ctx, err := parseQuiet(parser, args)
	if err != nil {
		return 0, false
	}
	if err := ctx.Run(); err != nil {
		return report(err), true
	}
	return code, true
}

// parseQuiet parses args, taking kong's exit (which it calls only for help
// and version flags, which prestart leaves to the whole CLI) as an error.
func parseQuiet(parser *kong.Kong, args []string) (ctx *kong.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitNow); !ok {
				panic(r)
			}
			ctx, err = nil, errors.New("exit during parse")
		}
	}()
	return parser.Parse(args)
}

// report prints err as one line and picks sandbox's exit status for it.
func report(err error) int {
	msg := err.Error()
	if hint := doctor.Diagnose(err, doctorDeps()); hint != "" {
		msg += "; " + hint // still one line
	}
	fmt.Fprintf(os.Stderr, "sandbox: %s\n", msg)
	var ce *userns.ChildError
	if errors.As(err, &ce) && ce.Code != 0 {
		return ce.Code
	}
	return exitSetup
}

// withRun names the default command when the user did not: in
// `sandbox [FLAGS] -- rm -rf build`, "rm" is the user's command, never our
// `rm`, so whatever precedes "--" belongs to `run`.
func withRun(parser *kong.Kong, args []string) []string {
	if len(args) == 0 || !slices.Contains(args, "--") {
		return args
	}
	for _, c := range parser.Model.Children {
		if c.Name == args[0] {
			return args
		}
	}
	return append([]string{"run"}, args...)
}
