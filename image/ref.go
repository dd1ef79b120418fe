package image

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"sandbox/quote"
)

// Transports of an image reference, as skopeo and podman spell them.
const (
	Docker        = "docker"         // a registry: docker://HOST/REPO[:TAG|@DIGEST], or the bare name
	OCI           = "oci"            // an OCI image layout directory: oci:DIR[:TAG]
	OCIArchive    = "oci-archive"    // a tar of one: oci-archive:FILE[:TAG]
	DockerArchive = "docker-archive" // `docker save` output: docker-archive:FILE[:NAME:TAG]
	// Local is an image made by `sandbox import`, never pulled.
	Local = "localhost"
)

// Ref is a parsed image reference. Parse is the only way to make one from
// untrusted text: a profile, the command line.
type Ref struct {
	Transport string
	// Registry images: Domain "docker.io", Repo "library/debian", and a Tag
	// or a Digest ("sha256:HEX"), never both empty.
	Domain, Repo, Tag, Digest string
	// Layouts and archives: the absolute path, and Tag as above (empty: the
	// only image there). For docker-archive, Tag is a NAME:TAG in the archive.
	Path string
	// Short: a registry name given without a domain (a lookup may also find
	// it under localhost/, as `sandbox import` names it).
	Short bool
}

// Name is the canonical reference: the image's name in the store.
func (r Ref) Name() string {
	switch r.Transport {
	case Docker, Local:
		n := r.Domain + "/" + r.Repo
		if r.Digest != "" {
			return n + "@" + r.Digest
		}
		return n + ":" + r.Tag
	default:
		if r.Tag == "" {
			return r.Transport + ":" + r.Path
		}
		return r.Transport + ":" + r.Path + ":" + r.Tag
	}
}

// String is the name, quoted for a terminal.
func (r Ref) String() string { return quote.Name(r.Name()) }

// Remote reports whether the image comes from a registry.
func (r Ref) Remote() bool { return r.Transport == Docker }

// unsupported are transports of containers/image that sandbox does not read.
var unsupported = []string{"dir", "containers-storage", "docker-daemon", "ostree", "sif", "tarball"}

// Parse reads an image reference: docker://NAME, a bare NAME (docker://),
// oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]. A
// relative DIR or FILE is taken from the current directory. A one-word name
// is docker.io/library/NAME; there is no search list of registries.
func Parse(s string) (Ref, error) {
	if err := checkText(s); err != nil {
		return Ref{}, err
	}
	if rest, ok := strings.CutPrefix(s, "docker://"); ok {
		return parseDocker(rest, "docker.io")
	}
	if t, rest, ok := strings.Cut(s, ":"); ok {
		switch t {
		case OCI, OCIArchive, DockerArchive:
			return parseFile(t, rest)
		}
		for _, u := range unsupported {
			if t == u {
				return Ref{}, fmt.Errorf("image %s: transport %q is not supported (use docker://, oci:, oci-archive: or docker-archive:)", quote.Short(s, 80), t)
			}
		}
		if strings.HasPrefix(rest, "//") {
			return Ref{}, fmt.Errorf("image %s: unknown transport %q (use docker://, oci:, oci-archive: or docker-archive:)", quote.Short(s, 80), t)
		}
	}
	return parseDocker(s, "docker.io")
}

// ParseLocal reads the name `sandbox import` gives an image: a name without a
// domain is localhost/NAME, as podman import does.
func ParseLocal(s string) (Ref, error) {
	if err := checkText(s); err != nil {
		return Ref{}, err
	}
	r, err := parseDocker(s, Local)
	if err != nil {
		return Ref{}, err
	}
	if r.Digest != "" {
		return Ref{}, fmt.Errorf("image name %s: an imported image has no digest to name; give NAME[:TAG]", quote.Short(s, 80))
	}
	if r.Domain == Local {
		r.Transport = Local
	}
	r.Short = false
	return r, nil
}

func checkText(s string) error {
	if s == "" {
		return errors.New("empty image reference")
	}
	if len(s) > 4096 {
		return fmt.Errorf("image reference %s: too long", quote.Short(s, 80))
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("image reference %s: control character", quote.Short(s, 80))
		}
	}
	return nil
}

func parseFile(transport, rest string) (Ref, error) {
	path, tag, _ := strings.Cut(rest, ":")
	if path == "" {
		return Ref{}, fmt.Errorf("image %s:%s: no path (want %s:PATH[:TAG])", transport, quote.Short(rest, 80), transport)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Ref{}, fmt.Errorf("image %s:%s: %w", transport, quote.Short(path, 80), err)
	}
	r := Ref{Transport: transport, Path: abs}
	if tag == "" {
		return r, nil
	}
	if transport == DockerArchive {
		d, err := parseDocker(tag, "docker.io")
		if err != nil || d.Digest != "" {
			return Ref{}, fmt.Errorf("image %s: %q is not a NAME:TAG in the archive", quote.Short(transport+":"+rest, 80), tag)
		}
		r.Tag = d.Name()
		return r, nil
	}
	if len(tag) > 128 || strings.ContainsAny(tag, "/\\") {
		return Ref{}, fmt.Errorf("image %s: invalid tag %s", quote.Short(transport+":"+rest, 80), quote.Short(tag, 40))
	}
	r.Tag = tag
	return r, nil
}

// parseDocker reads [DOMAIN/]REPO[:TAG][@sha256:HEX] (the distribution
// reference grammar); a name without a domain gets defDomain, and
// "library/" too on docker.io.
func parseDocker(s, defDomain string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("image %s: %s", quote.Short(s, 80), why)
	}
	r := Ref{Transport: Docker}
	name := s
	if n, d, ok := strings.Cut(s, "@"); ok {
		hex, ok := strings.CutPrefix(d, "sha256:")
		if !ok || !isHex(hex, 64) {
			return bad("a digest is sha256: and 64 lowercase hex digits")
		}
		name, r.Digest = n, d
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
		if !validTag(r.Tag) {
			return bad("invalid tag " + quote.Short(r.Tag, 40))
		}
	}
	if name == "" || len(name) > 255 {
		return bad("no repository name")
	}
	first, rest, hasSlash := strings.Cut(name, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if !validDomain(first) {
			return bad("invalid registry " + quote.Short(first, 40))
		}
		r.Domain, r.Repo = first, rest
	} else {
		r.Domain, r.Repo, r.Short = defDomain, name, true
		if defDomain == "docker.io" && !hasSlash {
			r.Repo = "library/" + name
		}
	}
	for _, c := range strings.Split(r.Repo, "/") {
		if !validComponent(c) {
			return bad("invalid repository name (lowercase letters, digits and . _ - between them)")
		}
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	if r.Digest != "" {
		r.Tag = "" // a digest names the content; a tag beside it would only mislead
	}
	return r, nil
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || i > 0 && (c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	host, port, hasPort := strings.Cut(d, ":")
	if host == "" || hasPort && (port == "" || !isDigits(port)) {
		return false
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validComponent is [a-z0-9]+ with single '.', '_', "__" or runs of '-'
// between alphanumerics.
func validComponent(c string) bool {
	if c == "" {
		return false
	}
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	if !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); i++ {
		if alnum(c[i]) {
			continue
		}
		j := i
		for j < len(c) && !alnum(c[j]) {
			j++
		}
		sep := c[i:j]
		if sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
			return false
		}
		i = j - 1
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
