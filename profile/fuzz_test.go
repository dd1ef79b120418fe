package profile

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadProfiles: any config file gives a clean error or profiles whose flags
// can be built, never a panic.
func FuzzLoadProfiles(f *testing.F) {
	for _, s := range []string{
		"[defaults]\nhide = [\"~/.x\"]\n",
		"[profile.build]\nmemory = \"4G\"\nshare-net = true\nrw = [\"/tmp\"]\n",
		"[profile.p]\npids = -2\n", "[[x]]\n", "a = \n", "[profile.a.b]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, testGrammar)
		if err != nil {
			return
		}
		for _, p := range c.profiles {
			_, _ = c.Args(p.name)
		}
		_, _ = c.Args("")
	})
}
