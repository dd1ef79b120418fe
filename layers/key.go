package layers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
)

// maxKeyLen leaves room under NAME_MAX (255) for temporary names next to a key.
const maxKeyLen = 200

// hashedKeyPrefix starts keys too long to spell out; "%h" is never an escape,
// so such keys cannot collide with spelled-out ones.
const hashedKeyPrefix = "%h"

// checkHostPath rejects what cannot be a layer's host path: overlays are
// mounted on absolute, clean paths, and a relative or unclean one would give
// two keys for one directory.
func checkHostPath(p string) error {
	switch {
	case p == "" || p[0] != '/':
		return fmt.Errorf("host path %q is not absolute", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("host path %q is not clean (want %q)", p, filepath.Clean(p))
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("host path %q contains a NUL byte", p)
	}
	return nil
}

// encodeKey returns the layer key of host path p (see the package doc).
// p must pass checkHostPath.
func encodeKey(p string) string {
	k := strings.NewReplacer("%", "%25", "/", "%2F").Replace(p)
	if len(k) > maxKeyLen {
		sum := sha256.Sum256([]byte(p))
		return hashedKeyPrefix + hex.EncodeToString(sum[:])
	}
	return k
}

// decodeKey inverts encodeKey. ok is false for a hashed key, whose host path
// only the layer's path file knows, and for anything encodeKey cannot produce.
func decodeKey(k string) (p string, ok bool) {
	if strings.HasPrefix(k, hashedKeyPrefix) || strings.ContainsRune(k, '/') {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if k[i] != '%' {
			b.WriteByte(k[i])
			continue
		}
		switch {
		case strings.HasPrefix(k[i:], "%25"):
			b.WriteByte('%')
		case strings.HasPrefix(k[i:], "%2F"):
			b.WriteByte('/')
		default:
			return "", false
		}
		i += 2
	}
	p = b.String()
	if checkHostPath(p) != nil || encodeKey(p) != k {
		return "", false
	}
	return p, true
}
