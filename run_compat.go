package main

// podman's and bwrap's habits on `sandbox run`: -v SRC:DEST[:ro], -u USER,
// --env-file, --unsetenv. They become what the native flags mean.

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"sandbox/image"
	"sandbox/quote"
)

// volumeFlag turns podman's `-v SRC[:DEST][:OPTIONS]` into the --rw or --ro
// it means. OPTIONS is a comma list of ro and rw (podman's z, Z, U and the
// propagation modes have no meaning here and are refused by name).
func volumeFlag(v string) (mountFlag, error) {
	parts := strings.Split(v, ":")
	flag := "--rw"
	// The last part is options when there are three, or when the second is
	// not a path (podman's DEST is always absolute).
	if n := len(parts); n == 3 || n == 2 && !strings.HasPrefix(parts[1], "/") {
		for _, o := range strings.Split(parts[n-1], ",") {
			switch o {
			case "ro":
				flag = "--ro"
			case "rw":
			default:
				return mountFlag{}, fmt.Errorf("-v %s: option %s: only ro and rw are known here", quote.Short(v, 200), quote.Short(o, 40))
			}
		}
		parts = parts[:n-1]
	}
	if len(parts) > 2 || parts[0] == "" {
		return mountFlag{}, fmt.Errorf("-v %s: want SRC[:DEST][:ro]", quote.Short(v, 200))
	}
	return mountFlag{flag, strings.Join(parts, ":")}, nil
}

// validateCompat checks the podman-style flags that need no file.
func (r *RunCmd) validateCompat() error {
	for _, v := range r.Volume {
		if _, err := volumeFlag(v); err != nil {
			return err
		}
	}
	if r.User != "" && (r.UID >= 0 || r.GID >= 0) {
		return errors.New("-u/--user with --uid or --gid: give one of them")
	}
	for _, k := range r.Unsetenv {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("--unsetenv %s: want a variable name", quote.Short(k, 80))
		}
	}
	return nil
}

// applyUser settles the IDs inside after --image has set its own: -u USER
// is looked up in the sandbox's root (the image, --rootfs or the host's),
// and root inside gets group 0 unless --gid says otherwise, as podman's
// --user 0 does.
func (r *RunCmd) applyUser() error {
	if r.User != "" {
		root := []string{"/"}
		switch {
		case r.image != nil:
			root = r.image.Layers
		case r.Rootfs != "":
			root = []string{r.Rootfs}
		}
		uid, gid, err := image.ResolveUser(root, r.User)
		if err != nil {
			return fmt.Errorf("-u %s: no such user or group in the sandbox's /etc/passwd or /etc/group (numeric IDs need none: -u UID:GID)", quote.Short(r.User, 80))
		}
		r.UID, r.GID = int64(uid), int64(gid)
	}
	if r.UID == 0 && r.GID < 0 {
		r.GID = 0
	}
	return nil
}

// environment is the command's environment: --env-file's variables, then
// --env's, over the host's (commandEnv); then --unsetenv.
func (r *RunCmd) environment() ([]string, error) {
	var sets []string
	for _, f := range r.EnvFile {
		kv, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		sets = append(sets, kv...)
	}
	env, err := commandEnv(os.Environ(), r.ClearEnv, append(sets, r.Env...))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(r.Unsetenv, k)
	}), nil
}

// readEnvFile reads docker's and podman's env file: KEY=VAL or KEY (the
// host's value) a line; blank lines and lines starting with # are skipped.
// The value is the rest of the line, quotes and all.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("--env-file %s: %w", quote.Short(path, 200), err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t\x00") || strings.ContainsRune(line, 0) {
			return nil, fmt.Errorf("--env-file %s:%d: want KEY=VAL or KEY", quote.Short(path, 200), n)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", quote.Short(path, 200), err)
	}
	return out, nil
}
