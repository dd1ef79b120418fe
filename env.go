package main

import (
	"fmt"
	"os"
	"strings"
)

// hostServiceEnv names variables that hand the command a way into the user's
// session: a socket to talk to, or a file that authorises it. They are dropped
// unless passed again with --env. (The sockets themselves are also out of reach:
// the runtime directory is covered and the network namespace hides abstract ones.)
var hostServiceEnv = []string{
	"DBUS_SESSION_BUS_ADDRESS", // the session bus: systemd --user, secrets, desktop
	"DBUS_SYSTEM_BUS_ADDRESS",
	"SSH_AUTH_SOCK", "SSH_AGENT_PID", // ssh-agent: your SSH keys
	"GPG_AGENT_INFO",        // gpg-agent
	"DISPLAY", "XAUTHORITY", // X11: keystrokes and screens of every window
	"WAYLAND_DISPLAY", "WAYLAND_SOCKET",
	"XDG_RUNTIME_DIR",                 // the directory that holds the sockets above
	"PULSE_SERVER", "PIPEWIRE_REMOTE", // audio (and microphone)
	"KRB5CCNAME", // Kerberos tickets
}

// commandEnv is the command's environment: the caller's minus hostServiceEnv (or
// nothing with clear), then each --env. `--env KEY` passes the host's KEY.
func commandEnv(host []string, clear bool, sets []string) ([]string, error) {
	env := map[string]string{}
	var order []string
	put := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	if !clear {
		for _, kv := range host {
			k, v, _ := strings.Cut(kv, "=")
			if !isHostService(k) && !strings.HasPrefix(k, "_SANDBOX_") {
				put(k, v)
			}
		}
	}
	for _, s := range sets {
		k, v, hasVal := strings.Cut(s, "=")
		if k == "" || strings.ContainsAny(k, "\x00") || strings.ContainsAny(v, "\x00") {
			return nil, fmt.Errorf("--env %q: want KEY=VAL or KEY", s)
		}
		if !hasVal {
			hv, ok := os.LookupEnv(k)
			if !ok {
				continue // like docker: an unset KEY stays unset
			}
			v = hv
		}
		put(k, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

func isHostService(k string) bool {
	for _, h := range hostServiceEnv {
		if k == h {
			return true
		}
	}
	return false
}
