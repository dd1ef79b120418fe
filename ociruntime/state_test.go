package ociruntime

import (
	"os"
	"testing"
)

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"abc": true, "a_b-c.d+e": true, "0123456789abcdef": true,
		"": false, ".": false, "..": false, "a/b": false, "../x": false, "a b": false, "a\nb": false,
	} {
		if err := checkID(id); (err == nil) != ok {
			t.Errorf("checkID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// TestAliveStartTime: a PID counts as the recorded process only with the
// recorded start time.
func TestAliveStartTime(t *testing.T) {
	start, state, err := procStart(os.Getpid())
	if err != nil || start == 0 || state == 'Z' {
		t.Fatalf("procStart(self) = %d %c %v", start, state, err)
	}
	if !alive(os.Getpid(), start) {
		t.Fatal("alive(self, own start time) = false")
	}
	if alive(os.Getpid(), start+1) {
		t.Fatal("alive with another start time = true: a reused PID would pass")
	}
	if alive(0, 0) || alive(-1, 0) {
		t.Fatal("alive of PID 0 or -1")
	}
}
