package systemdcgroup

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestOwnLimitFiles(t *testing.T) {
	got := ownLimitFiles(Limits{MemoryMax: 1 << 20, MemorySwapMax: 0, CPUQuota: 1500 * time.Millisecond, TasksMax: 7, IOWeight: 200})
	want := [][2]string{{"memory.max", "1048576"}, {"cpu.max", "150000 100000"}, {"pids.max", "7"}, {"io.weight", "default 200"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// --memory-swap 0 is a limit: no swap.
	got = ownLimitFiles(Limits{SwapSet: true})
	if want := [][2]string{{"memory.swap.max", "0"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("--memory-swap 0: got %q, want %q", got, want)
	}
}

func TestStartOwnScopeRefusesUndelegated(t *testing.T) {
	dir := writeFiles(t, map[string]string{"cgroup.subtree_control": "cpu\n"})
	_, err := StartOwnScope(dir, "x", 1, Limits{TasksMax: 5})
	var me *MissingControllersError
	if !errors.As(err, &me) || me.Missing[0] != "pids" {
		t.Errorf("want a missing pids controller, got %v", err)
	}
}
