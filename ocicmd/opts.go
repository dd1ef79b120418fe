package ocicmd

import "sandbox/ociruntime"

// opts are create's (and run's) inputs to the runtime.
func (c *CreateCmd) opts(e *env) ociruntime.CreateOpts {
	return ociruntime.CreateOpts{
		Root: e.root, ID: c.ID, Bundle: c.Bundle, PidFile: c.PidFile, Log: e.log,
		PreserveFds: c.PreserveFds, SystemdCgroup: e.systemdCgroup, ConsoleSocket: c.ConsoleSocket,
	}
}
