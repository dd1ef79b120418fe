package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"sandbox/image"
	"sandbox/layers"
	"sandbox/quote"
	"sandbox/userns"
)

// ImageFlags run the command in an image instead of the host's tree.
type ImageFlags struct {
	Image      string `help:"Run in image REF: its layers are the overlay's lower layers (pulled first when missing), its Env, Entrypoint, Cmd, WorkingDir and User apply; a COMMAND replaces its Cmd." placeholder:"REF" group:"Image"`
	Entrypoint string `help:"With --image: run this instead of the image's Entrypoint (one word, or a JSON array)." placeholder:"CMD" group:"Image"`

	image *image.Image // resolved by applyImage
}

// defaultPath is podman's PATH for an image that sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// applyImage resolves --image (pulling it when the store lacks it), holds its
// layers for as long as sandbox runs (the flocks go with the process), and
// turns its configuration into the run's: the command, environment, working
// directory and IDs, as `podman run` does; the command line wins.
func (r *RunCmd) applyImage(log *slog.Logger) error {
	if r.Rootfs != "" {
		return errors.New("--image and --rootfs both name the root: give one")
	}
	ref, err := image.Parse(r.Image)
	if err != nil {
		return fmt.Errorf("--image: %w", err)
	}
	s, err := imageStore()
	if err != nil {
		return err
	}
	img, err := lookupHeld(s, r.Image)
	if errors.Is(err, image.ErrNotFound) {
		log.Debug("image not in the store: pulling", "ref", ref.Name())
		if _, err = pullImage(context.Background(), ref, r.Map, false); err != nil {
			return err
		}
		img, err = lookupHeld(s, r.Image)
	}
	if err != nil {
		return fmt.Errorf("--image: %w", err)
	}
	r.image = img
	c := img.Config.Config
	argv := slices.Clone(c.Entrypoint)
	if r.Entrypoint != "" {
		argv = parseEntrypoint(r.Entrypoint)
	}
	if len(argv) == 0 && len(r.Cmd) > 0 && strings.HasPrefix(r.Cmd[0], "-") {
		// Validate let it through as the entrypoint's argument.
		return fmt.Errorf("image %s has no Entrypoint: %s is not a command (give one after --, or --entrypoint)", quote.Short(img.Name, 120), quote.Short(r.Cmd[0], 60))
	}
	if len(r.Cmd) > 0 {
		argv = append(argv, r.Cmd...)
	} else {
		argv = append(argv, c.Cmd...)
	}
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("image %s names no command: give one after --", quote.Short(img.Name, 120))
	}
	r.Cmd = argv
	if err := r.imageIDs(img); err != nil {
		return err
	}
	if r.Chdir == "" {
		r.Chdir = "/"
		if c.WorkingDir != "" {
			// Resolved by init inside the image's root only
			// (userns/child_workdir.go): a WorkingDir of
			// /proc/self/fd/N or ../.. does not reach the host.
			r.Chdir = path.Join("/", c.WorkingDir)
		}
	}
	// The image's environment, then --env; the host's is not passed.
	env := slices.Clone(c.Env)
	if !hasKey(env, "PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if !hasKey(env, "HOME") {
		env = append(env, "HOME="+r.imageHome(img))
	}
	if t, ok := os.LookupEnv("TERM"); ok && !hasKey(env, "TERM") {
		env = append(env, "TERM="+t)
	}
	r.Env = append(env, r.Env...)
	r.ClearEnv = true
	return nil
}

// lookupHeld finds the image and holds its layers, under the store's shared
// lock so no removal runs in between.
func lookupHeld(s image.Store, ref string) (*image.Image, error) {
	l, err := s.Lock(false)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	img, err := s.Lookup(ref)
	if err != nil {
		return nil, err
	}
	// Kept open until sandbox exits: rmi and prune leave held layers alone.
	if _, err := s.Hold(img); err != nil {
		return nil, err
	}
	return img, nil
}

// imageIDs sets --uid and --gid from the image's User unless given.
func (r *RunCmd) imageIDs(img *image.Image) error {
	user := img.Config.Config.User
	if r.UID >= 0 {
		user = strconv.FormatInt(r.UID, 10)
	}
	uid, gid, err := image.ResolveUser(img.Layers, user)
	if err != nil {
		return fmt.Errorf("image %s: %w", quote.Short(img.Name, 120), err)
	}
	r.UID = int64(uid)
	if r.GID < 0 {
		r.GID = int64(gid)
	}
	return nil
}

// imageGroups gives the command of an image run the supplementary groups
// the image's /etc/group gives its user, or none: init's own hold the host
// user's group, which is ID 0 in the image map. Where setgroups is denied (a
// single-ID map: the parent wrote it without newgidmap) they cannot be
// changed, but only ID 0 exists there, and the command is root anyway.
func (r *RunCmd) imageGroups(spec *userns.Spec) {
	if r.image == nil || spec.Maps.NewGIDMap == "" {
		return
	}
	c := &spec.Config
	c.Groups, c.SetGroups = image.Groups(r.image.Layers, c.UID, c.GID), true
}

// imageHome is the user's home from the image's /etc/passwd, else "/".
func (r *RunCmd) imageHome(img *image.Image) string {
	if home := image.Home(img.Layers, uint32(r.UID)); home != "" {
		return home
	}
	return "/"
}

// afterDashes reports that cmd is what followed the "--" of the command line
// (kong drops it), not words kong took for the start of the command.
func afterDashes(args, cmd []string) bool {
	i := slices.Index(args, "--")
	return i >= 0 && slices.Equal(args[i+1:], cmd)
}

func parseEntrypoint(s string) []string {
	var a []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &a) == nil {
		return a
	}
	return []string{s}
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

// imageLayer is the whole root as one kernel overlay of the image's layers,
// the run's layer (ephemeral or named) as its upper. The layer knows its
// lowers and that it is mounted at "/", so diff compares the upper with the
// merged image and prints the paths the command saw.
func (r *RunCmd) imageLayer(v *view) (userns.Mount, error) {
	img := r.image
	s, err := imageStore()
	if err != nil {
		return userns.Mount{}, err
	}
	mounts, err := s.MountPoints()
	if err != nil {
		return userns.Mount{}, err
	}
	lowers := make([]string, len(img.Layers), len(img.Layers)+1)
	for i, l := range img.Layers {
		lowers[len(img.Layers)-1-i] = l // top first, as overlayfs takes them
	}
	// The mount points last: the image's own come first.
	lowers = append(lowers, mounts)
	if v.mem {
		// An ephemeral run's upper in init's memory layer.
		return userns.Mount{Kind: userns.Overlay, Src: lowers[0], Lowers: lowers, Dst: "/",
			Upper: "/layers/image/upper", Work: "/layers/image/work", Mem: true}, nil
	}
	upper, work, err := v.sb.StackLayer("/", lowers)
	if err != nil {
		return userns.Mount{}, err
	}
	return userns.Mount{Kind: userns.Overlay, Src: lowers[0], Lowers: lowers, Dst: "/", Upper: upper, Work: work}, nil
}

// runMaps is the run's ID map: for an image, the fixed image map whatever
// --uid says (see imageMaps).
func (r *RunCmd) runMaps(inUID, inGID, uid, gid uint32) (userns.IDMaps, error) {
	if r.image != nil {
		maps, err := planMaps(r.Map, 0, 0, uid, gid)
		if err == nil && maps.NewUIDMap == "" && (inUID != 0 || inGID != 0) {
			// Only ID 0 exists: exec would fail with EINVAL; and setgroups
			// is denied, so the command would keep init's groups.
			return maps, fmt.Errorf("the image's user %d:%d needs sub-IDs (a single-ID map has only ID 0): give the user ranges in /etc/subuid and /etc/subgid, or run with --uid 0", inUID, inGID)
		}
		return maps, err
	}
	return planMaps(r.mapMode(inUID, inGID), inUID, inGID, uid, gid)
}

// refuseImageCommit refuses to commit a sandbox whose root is an image: its
// changes are to the image, and making new images is not sandbox's yet.
func refuseImageCommit(sb *layers.Sandbox) error {
	s, err := imageStore()
	if err != nil {
		return nil
	}
	ls, _ := sb.Layers()
	for _, l := range ls {
		if len(l.Lowers) > 0 || strings.HasPrefix(l.HostPath, s.Dir+"/") {
			return fmt.Errorf("sandbox %s runs on an image: its changes cannot be committed (no new images yet); review them with sandbox diff %s", quote.Name(sb.Name), quote.Name(sb.Name))
		}
	}
	return nil
}
