package ocicmd

import "sandbox/ociruntime"

// CreateCmd is `create`: conmon's `create --bundle B --pid-file P ID`.
type CreateCmd struct {
	ID            string `arg:"" help:"Container ID."`
	Bundle        string `short:"b" default:"." help:"The bundle: config.json and, usually, the root filesystem."`
	PidFile       string `name:"pid-file" help:"Write init's PID here."`
	ConsoleSocket string `name:"console-socket" help:"Unix socket to send the terminal's master to (process.terminal)."`
	PreserveFds   int    `name:"preserve-fds" help:"Pass the descriptors 3 to 3+N-1 on to the command (socket activation)."`
	NoPivot       bool   `name:"no-pivot" help:"Accepted; pivot_root is always used."`
	NoNewKeyring  bool   `name:"no-new-keyring" help:"Accepted; no session keyring is made."`
	Detach        bool   `short:"d" hidden:""`
	NotifySocket  string `name:"notify-socket" hidden:""`
}

// Run creates the container.
func (c *CreateCmd) Run(e *env) error {
	_, err := ociruntime.Create(background(), c.opts(e))
	return err
}
