package userns

import (
	"encoding/json"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFilterJSON(t *testing.T) {
	in := Filter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 255, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}
	b, err := json.Marshal(Config{Seccomp: in})
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]unix.SockFilter(out.Seccomp), []unix.SockFilter(in)) {
		t.Errorf("round trip: %v, want %v", out.Seccomp, in)
	}
	var bad Config
	if err := json.Unmarshal([]byte(`{"seccomp":"AAAA"}`), &bad); err == nil {
		t.Errorf("3 bytes taken as a program")
	}
}
