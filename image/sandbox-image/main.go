// Command sandbox-image pulls and imports images into sandbox's image store
// (see package sandbox/image). It is a companion of sandbox, as
// sandbox-netstack is: it links the registry client
// (github.com/google/go-containerregistry), whose package initialisation
// sandbox itself must not pay on every run.
//
// Runs as root of a user namespace that sandbox makes with the user's map
// (userns.StartMapped): image root is the user, image ID N the N-th sub-ID,
// so the layers' files belong to the IDs the image says. sandbox runs it as
//
//	sandbox-image pull [--quiet] STORE REF
//	sandbox-image import STORE FILE NAME
//
// with the sync pipe on fd 3 and a pipe on fd 4 that gets its one-line error.
// On success it prints the image's ID on stdout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"sandbox/userns"
)

// stageEnv marks a start by sandbox; run by hand, fd 3 and 4 are not ours.
const stageEnv = "_SANDBOX_IMAGE"

func main() {
	if os.Getenv(stageEnv) != "1" {
		fmt.Fprintln(os.Stderr, "sandbox-image: run by sandbox (sandbox pull, sandbox import, sandbox --image); not a command of its own")
		os.Exit(2)
	}
	userns.WaitMapped()
	errPipe := os.NewFile(4, "errors")
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		// One line, whatever the registry said (its errors hold JSON and newlines).
		fmt.Fprint(errPipe, strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	quiet := false
	if len(args) > 1 && args[1] == "--quiet" {
		quiet = true
		args = append(args[:1:1], args[2:]...)
	}
	switch {
	case len(args) == 3 && args[0] == "pull":
		return pull(ctx, args[1], args[2], quiet)
	case len(args) == 4 && args[0] == "import":
		return importFile(ctx, args[1], args[2], args[3])
	}
	return fmt.Errorf("sandbox-image: bad arguments %q", args)
}
