// Package ocicmd is sandbox-runc's command line: runc's verbs and global
// flags as podman (through conmon) and containerd's runc shim call them, one
// file per verb. Each verb parses its flags and calls package ociruntime,
// which knows nothing of the command line.
//
// Runs in the caller of the runtime (see ociruntime's doc). Reached from
// main when the binary is called sandbox-runc (a link to sandbox): a plain
// `sandbox` run never builds this command line.
package ocicmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kong"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"sandbox/ociruntime"
	"sandbox/userns"
)

// CLI is runc's command line, as far as sandbox-runc speaks it.
type CLI struct {
	Root          string `help:"Directory of the containers' state (default $XDG_RUNTIME_DIR/sandbox-runc; /run/sandbox-runc for root)."`
	Log           string `help:"Append log and error lines to this file (default stderr)."`
	LogFormat     string `name:"log-format" enum:"text,json" default:"text" help:"Log lines as text or json (runc's JSON lines)."`
	Debug         bool   `help:"Log debug lines too."`
	SystemdCgroup bool   `name:"systemd-cgroup" help:"linux.resources in a systemd user scope named by cgroupsPath (slice:prefix:name), not a cgroupfs directory."`
	Rootless      string `help:"Accepted for runc's callers (ignored: rootless is the only mode)."`
	Criu          string `hidden:""`

	Create   CreateCmd   `cmd:"" help:"Create a container: set up, and wait for start."`
	Start    StartCmd    `cmd:"" help:"Start a created container's process."`
	State    StateCmd    `cmd:"" help:"Print a container's state as JSON."`
	Kill     KillCmd     `cmd:"" help:"Send a signal to a container's init (SIGTERM by default)."`
	Delete   DeleteCmd   `cmd:"" help:"Delete a container's state (a running one with --force)."`
	Run      RunCmd      `cmd:"" help:"Create and start a container, and wait for it (unless --detach)."`
	Features FeaturesCmd `cmd:"" help:"Print what this runtime supports, as JSON."`
	Exec     ExecCmd     `cmd:"" help:"Start a process in a running container (through its init)."`
	Ps       PsCmd       `cmd:"" help:"List a running container's processes."`
	ExecWait ExecWaitCmd `cmd:"" name:"exec-wait" hidden:""`
}

// env is what every verb gets: the state root, the logger, and how limits
// are placed.
type env struct {
	root          string
	log           *slog.Logger
	systemdCgroup bool
}

// Main runs sandbox-runc's command line and returns the exit status: 0, the
// container's status for a foreground run, or 1 on failure (runc's).
func Main(args []string, version string) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--version" || a == "-v" {
			fmt.Printf("sandbox-runc version %s\nspec: %s\n", version, specs.Version)
			return 0
		}
	}
	var cli CLI
	code := 0
	parser, err := kong.New(&cli, kong.Name("sandbox-runc"),
		kong.Description("An OCI runtime (runc's command line) that runs containers in sandbox's rootless sandbox."),
		kong.Exit(func(c int) { code = c; panic(exitNow{}) }))
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-runc: internal error: %v\n", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitNow); !ok {
				panic(r)
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-runc: %v\n", err)
		return 1
	}
	e, closeLog, err := cli.env()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-runc: %v\n", err)
		return 1
	}
	defer closeLog()
	if err := kctx.Run(e, &code); err != nil {
		return fail(e.log, err)
	}
	return code
}

type exitNow struct{}

// fail reports err once: a JSON line in --log (conmon shows its msg), and
// a line on stderr.
func fail(log *slog.Logger, err error) int {
	log.Error(err.Error())
	fmt.Fprintf(os.Stderr, "sandbox-runc: %v\n", err)
	var ce *userns.ChildError
	if errors.As(err, &ce) && ce.Code > 1 && ce.Code < 125 {
		return ce.Code
	}
	return 1
}

func (c *CLI) env() (*env, func(), error) {
	root := c.Root
	if root == "" {
		root = ociruntime.DefaultRoot()
	}
	var w io.Writer = os.Stderr
	closeLog := func() {}
	if c.Log != "" {
		f, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("--log: %w", err)
		}
		w, closeLog = f, func() { f.Close() }
	}
	level := slog.LevelWarn
	if c.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: runcAttrs}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return &env{root: root, log: slog.New(h), systemdCgroup: c.SystemdCgroup}, closeLog, nil
}

// runcAttrs writes runc's (logrus's) keys: a lowercase level, an RFC 3339
// time.
func runcAttrs(_ []string, a slog.Attr) slog.Attr {
	switch a.Key {
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			switch {
			case l >= slog.LevelError:
				a.Value = slog.StringValue("error")
			case l >= slog.LevelWarn:
				a.Value = slog.StringValue("warning")
			case l >= slog.LevelInfo:
				a.Value = slog.StringValue("info")
			default:
				a.Value = slog.StringValue("debug")
			}
		}
	case slog.TimeKey:
		a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
	}
	return a
}

// printJSON prints v, indented as runc does.
func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

func background() context.Context { return context.Background() }
