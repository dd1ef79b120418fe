package systemdcgroup

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestScopeProperties(t *testing.T) {
	type want struct {
		sig   string
		value any
	}
	l := Limits{MemoryMax: 64 << 20, MemorySwapMax: 1 << 30, SwapSet: true, CPUQuota: 1500 * time.Millisecond, TasksMax: 50, IOWeight: 200}
	props := scopeProperties("sandbox: make", 4242, 0, l)
	wantProps := map[string]want{
		"Description":        {"s", "sandbox: make"},
		"PIDs":               {"au", []uint32{4242}},
		"Delegate":           {"b", true},
		"CollectMode":        {"s", "inactive-or-failed"},
		"MemoryMax":          {"t", uint64(64 << 20)},
		"MemorySwapMax":      {"t", uint64(1 << 30)},
		"CPUQuotaPerSecUSec": {"t", uint64(1500000)}, // microseconds
		"TasksMax":           {"t", uint64(50)},
		"IOWeight":           {"t", uint64(200)},
	}
	seen := map[string]bool{}
	for _, p := range props {
		if seen[p.Name] {
			t.Errorf("property %s twice", p.Name)
		}
		seen[p.Name] = true
		w, ok := wantProps[p.Name]
		if !ok {
			t.Errorf("unexpected property %s = %v", p.Name, p.Value)
			continue
		}
		if got := p.Value.Signature().String(); got != w.sig {
			t.Errorf("%s has D-Bus type %q, want %q", p.Name, got, w.sig)
		}
		if !reflect.DeepEqual(p.Value.Value(), w.value) {
			t.Errorf("%s = %#v, want %#v", p.Name, p.Value.Value(), w.value)
		}
	}
	for name := range wantProps {
		if !seen[name] {
			t.Errorf("property %s missing", name)
		}
	}
	// The whole argument list must have StartTransientUnit's signature.
	if got := dbus.SignatureOf("n.scope", "fail", props, []auxUnit{}).String(); got != "ssa(sv)a(sa(sv))" {
		t.Errorf("StartTransientUnit arguments have signature %q, want ssa(sv)a(sa(sv))", got)
	}
}

func TestScopePropertiesUnsetLimits(t *testing.T) {
	props := scopeProperties("d", 1, 0, Limits{TasksMax: 7})
	var names []string
	for _, p := range props {
		names = append(names, p.Name)
	}
	want := []string{"Description", "PIDs", "Delegate", "CollectMode", "TasksMax"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("properties %v, want %v (unset limits left out)", names, want)
	}
}

// A keeper is a second PID of the scope and one more task of TasksMax, so the
// sandbox keeps the limit it asked for.
func TestScopePropertiesKeeper(t *testing.T) {
	got := map[string]any{}
	for _, p := range scopeProperties("d", 10, 11, Limits{TasksMax: 7}) {
		got[p.Name] = p.Value.Value()
	}
	if !reflect.DeepEqual(got["PIDs"], []uint32{10, 11}) || got["TasksMax"] != uint64(8) {
		t.Errorf("PIDs %v, TasksMax %v; want [10 11] and 8", got["PIDs"], got["TasksMax"])
	}
	for _, p := range scopeProperties("d", 10, 11, Limits{MemoryMax: 1 << 20}) {
		if p.Name == "TasksMax" {
			t.Errorf("TasksMax %v without a --pids limit: want systemd's default", p.Value)
		}
	}
}

// --memory-swap 0 means no swap, and must reach systemd (a dropped 0 left
// swap unlimited, and a hog swapped instead of being killed).
func TestScopePropertiesNoSwap(t *testing.T) {
	for _, p := range scopeProperties("d", 1, 0, Limits{MemoryMax: 1 << 20, SwapSet: true}) {
		if p.Name == "MemorySwapMax" {
			if p.Value.Value() != uint64(0) {
				t.Errorf("MemorySwapMax = %v, want 0", p.Value)
			}
			return
		}
	}
	t.Error("no MemorySwapMax for --memory-swap 0")
}

func TestUnitPath(t *testing.T) {
	cases := map[string]dbus.ObjectPath{
		"sandbox-1.scope":  "/org/freedesktop/systemd1/unit/sandbox_2d1_2escope",
		"app.slice":        "/org/freedesktop/systemd1/unit/app_2eslice",
		"1a.scope":         "/org/freedesktop/systemd1/unit/_31a_2escope",
		"a_b@c\\x2d.scope": "/org/freedesktop/systemd1/unit/a_5fb_40c_5cx2d_2escope",
		"":                 "/org/freedesktop/systemd1/unit/_",
	}
	for in, want := range cases {
		got := unitPath(in)
		if got != want || !got.IsValid() {
			t.Errorf("unitPath(%q) = %q (valid %v), want %q", in, got, got.IsValid(), want)
		}
	}
}

func TestParseCgroup2Mount(t *testing.T) {
	hybrid := `24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	unified := `35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
99 35 0:30 / /tmp/other\040dir rw - cgroup2 cgroup2 rw
`
	container := `601 600 0:30 /user.slice/x.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw
`
	other := `99 35 0:30 / /tmp/other\040dir rw - cgroup2 cgroup2 rw
`
	cases := []struct {
		name, text string
		want       cgroup2Mount
	}{
		{"hybrid", hybrid, cgroup2Mount{"/sys/fs/cgroup/unified", "/"}},
		{"unified", unified, cgroup2Mount{"/sys/fs/cgroup", "/"}},
		{"container", container, cgroup2Mount{"/sys/fs/cgroup", "/user.slice/x.scope"}},
		{"other", other, cgroup2Mount{"/tmp/other dir", "/"}},
	}
	for _, c := range cases {
		got, err := parseCgroup2Mount(strings.NewReader(c.text))
		if err != nil || got != c.want {
			t.Errorf("%s: parseCgroup2Mount = %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if _, err := parseCgroup2Mount(strings.NewReader("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")); err == nil {
		t.Error("parseCgroup2Mount without cgroup2: want an error")
	}
	m := cgroup2Mount{"/sys/fs/cgroup", "/user.slice/x.scope"}
	if got := m.HostPath("/user.slice/x.scope/app.slice/a.scope"); got != "/sys/fs/cgroup/app.slice/a.scope" {
		t.Errorf("HostPath under a non-root mount = %s", got)
	}
	m = cgroup2Mount{"/sys/fs/cgroup/unified", "/"}
	if got := m.HostPath("/u/user/app.slice/a.scope"); got != "/sys/fs/cgroup/unified/u/user/app.slice/a.scope" {
		t.Errorf("HostPath = %s", got)
	}
}

func TestUnifiedCgroup(t *testing.T) {
	cases := []struct {
		text string
		want string
		ok   bool
	}{
		{"0::/user.slice/user-1000.slice/session-2.scope\n", "/user.slice/user-1000.slice/session-2.scope", true},
		{"9:name=systemd:/\n4:memory:/x\n0::/\n", "/", true},
		{"4:memory:/x\n", "", false},
		{"0::/gone (deleted)\n", "", false},
		{"0::/no-newline", "/no-newline", true},
	}
	for _, c := range cases {
		got, ok := unifiedCgroup(c.text)
		if got != c.want || ok != c.ok {
			t.Errorf("unifiedCgroup(%q) = %q, %v; want %q, %v", c.text, got, ok, c.want, c.ok)
		}
	}
}

func TestUserBusAddresses(t *testing.T) {
	own := fmt.Sprintf("unix:path=/run/user/%d/bus", os.Geteuid())
	cases := []struct {
		session, runtime string
		want             []string
	}{
		{"", "", []string{own}},
		{"unix:path=/x/bus", "", []string{"unix:path=/x/bus"}},
		{"", "/r", []string{"unix:path=/r/bus", own}},
		{"unix:path=/r/bus", "/r", []string{"unix:path=/r/bus"}},
		{own, fmt.Sprintf("/run/user/%d", os.Geteuid()), []string{own}},
	}
	for _, c := range cases {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", c.session)
		t.Setenv("XDG_RUNTIME_DIR", c.runtime)
		if got := userBusAddresses(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("session %q, runtime dir %q: addresses %q, want %q", c.session, c.runtime, got, c.want)
		}
	}
}
