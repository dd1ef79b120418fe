package systemdcgroup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// property is one (sv) of StartTransientUnit's property array.
type property struct {
	Name  string
	Value dbus.Variant
}

// scopeProperties builds the properties of the sandbox's transient scope,
// holding pid and, when keeper is not 0, that keeper process too. Limits
// appear only when set, so an unset one keeps systemd's default (and needs no
// delegated controller).
func scopeProperties(description string, pid, keeper int, l Limits) []property {
	pids := []uint32{uint32(pid)}
	if keeper != 0 {
		pids = append(pids, uint32(keeper))
		// The keeper is a task of the scope for all its life: one more,
		// so the sandbox still gets TasksMax of its own.
		if l.TasksMax != 0 {
			l.TasksMax++
		}
	}
	p := []property{
		{"Description", dbus.MakeVariant(description)},
		{"PIDs", dbus.MakeVariant(pids)},
		// Delegate: init makes a leaf cgroup and a cgroup namespace below
		// the scope, which systemd must then leave alone (systemd.resource-control(5)).
		{"Delegate", dbus.MakeVariant(true)},
		// Collect a failed scope too, so a name can be reused without
		// reset-failed and nothing piles up in the user manager.
		{"CollectMode", dbus.MakeVariant("inactive-or-failed")},
	}
	add := func(name string, v uint64) {
		if v != 0 {
			p = append(p, property{name, dbus.MakeVariant(v)})
		}
	}
	add("MemoryMax", l.MemoryMax)
	if l.SwapSet {
		p = append(p, property{"MemorySwapMax", dbus.MakeVariant(l.MemorySwapMax)})
	}
	add("CPUQuotaPerSecUSec", uint64(l.CPUQuota/time.Microsecond))
	add("CPUWeight", l.CPUWeight)
	add("TasksMax", l.TasksMax)
	add("IOWeight", l.IOWeight)
	return p
}

// auxUnit is an element of StartTransientUnit's a(sa(sv)) of auxiliary
// units, which a scope does not use.
type auxUnit struct {
	Name  string
	Props []property
}

func (c *Conn) startTransient(ctx context.Context, name string, props []property) (dbus.ObjectPath, error) {
	var job dbus.ObjectPath
	err := c.manager.CallWithContext(ctx, managerIface+".StartTransientUnit", 0,
		name, "fail", props, []auxUnit{}).Store(&job)
	return job, err
}

// Scope is a transient scope unit holding the sandbox.
type Scope struct {
	conn   *Conn
	name   string
	obj    dbus.BusObject
	path   string
	keeper *Keeper // nil: none
}

// StartScope starts transient scope name holding process pid under limits l,
// and returns once systemd has moved pid into it. Call it before the process
// runs anything the limits are for. On an error kill pid: a scope that was
// made anyway empties with it, and CollectMode lets systemd remove it.
func (c *Conn) StartScope(ctx context.Context, name, description string, pid int, l Limits) (*Scope, error) {
	return c.startScope(ctx, name, description, pid, l, nil)
}

// StartKeptScope is StartScope with keeper k in the scope too, in a leaf of
// its own, so that Stats can read the scope after pid and all it started have
// exited. The scope owns k from then on: Stop releases it. On an error the
// caller releases k.
func (c *Conn) StartKeptScope(ctx context.Context, name, description string, pid int, l Limits, k *Keeper) (*Scope, error) {
	return c.startScope(ctx, name, description, pid, l, k)
}

// StartScopeInSlice is StartScope with the scope placed in slice (an OCI
// runtime's cgroupsPath "slice:prefix:name"); systemd checks the name.
func (c *Conn) StartScopeInSlice(ctx context.Context, slice, name, description string, pid int, l Limits) (*Scope, error) {
	if !strings.HasSuffix(slice, ".slice") || strings.ContainsAny(slice, "/\x00") {
		return nil, fmt.Errorf("start scope %q: slice %q: want a name ending in .slice", name, slice)
	}
	return c.startScope(ctx, name, description, pid, l, nil, property{"Slice", dbus.MakeVariant(slice)})
}

func (c *Conn) startScope(ctx context.Context, name, description string, pid int, l Limits, k *Keeper, extra ...property) (*Scope, error) {
	if !strings.HasSuffix(name, ".scope") {
		return nil, fmt.Errorf("start scope %q: name must end in .scope", name)
	}
	if pid <= 0 {
		return nil, fmt.Errorf("start scope %q: bad pid %d", name, pid)
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("start scope %q: %w", name, err)
	}
	keeperPid := 0
	if k != nil {
		keeperPid = k.Pid()
	}
	props := append(scopeProperties(description, pid, keeperPid, l), extra...)

	w := c.watchJobs() // before the call: the job may end before its reply
	defer w.close()
	job, err := c.startTransient(ctx, name, props)
	if dbusErrorName(err) == errUnitExists {
		// A failed scope of an earlier run with this name; runc and
		// go-systemd reset it and retry once.
		if rerr := c.manager.CallWithContext(ctx, managerIface+".ResetFailedUnit", 0, name).Err; rerr != nil {
			return nil, fmt.Errorf("start scope %q: %w (reset failed unit: %w)", name, err, rerr)
		}
		job, err = c.startTransient(ctx, name, props)
		if dbusErrorName(err) == errUnitExists {
			return nil, fmt.Errorf("start scope %q: a running unit has that name: %w", name, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start scope %q: %w", name, noManager(err))
	}

	s := &Scope{conn: c, name: name, obj: c.bus.Object(systemdBus, unitPath(name))}
	result, err := w.wait(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("start scope %q: %w", name, err)
	}
	if result != "done" {
		return nil, fmt.Errorf("start scope %q: job %s: %s", name, result, s.state(ctx))
	}
	var cg string
	if err := s.obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
		scopeIface, "ControlGroup").Store(&cg); err != nil {
		return nil, fmt.Errorf("start scope %q: read ControlGroup: %w", name, err)
	}
	if cg == "" {
		return nil, fmt.Errorf("start scope %q: systemd gave it no cgroup: %s", name, s.state(ctx))
	}
	m, err := findCgroup2()
	if err != nil {
		return nil, fmt.Errorf("start scope %q: %w", name, err)
	}
	s.path = m.HostPath(cg)
	if k != nil {
		// Before the caller releases pid: init enables the controllers
		// below the scope, which the keeper at its top would forbid.
		if err := moveKeeper(s.path, k); err != nil {
			return nil, fmt.Errorf("start scope %q: %w", name, err)
		}
		s.keeper = k
	}
	return s, nil
}

// Stats reads the scope's counters (ReadStats), leaving out the keeper: it is
// one task of pids.peak for the scope's whole life, and uses nothing else.
func (s *Scope) Stats() (Stats, error) {
	st, err := ReadStats(s.path)
	if s.keeper != nil && st.PidsPeak > 0 {
		st.PidsPeak--
	}
	return st, err
}

// state describes why a unit's job failed, for error messages.
func (s *Scope) state(ctx context.Context) string {
	var parts []string
	for _, p := range [][2]string{{unitIface, "ActiveState"}, {unitIface, "SubState"}, {scopeIface, "Result"}} {
		v, err := s.Property(ctx, p[0], p[1])
		if err != nil {
			continue
		}
		if str, ok := v.Value().(string); ok {
			parts = append(parts, p[1]+"="+str)
		}
	}
	if len(parts) == 0 {
		return "unit state unknown (see journalctl --user -u " + s.name + ")"
	}
	return "unit " + strings.Join(parts, " ") + " (see journalctl --user -u " + s.name + ")"
}

// Name returns the unit name.
func (s *Scope) Name() string { return s.name }

// Path returns the scope's cgroup directory on the host: the cgroup2 mount
// point joined with the unit's ControlGroup. Init makes its leaf cgroup below
// it.
func (s *Scope) Path() string { return s.path }

// Controllers returns the controllers available in the scope's cgroup: the
// ones systemd delegated. Compare with Limits.Controllers via
// MissingControllers.
func (s *Scope) Controllers() ([]string, error) {
	return readControllers(s.path)
}

// MissingControllersError is CheckControllers' answer when limits cannot be
// enforced. Error returns Advice, one line naming the fix.
type MissingControllersError struct {
	Scope   string
	Missing []string
	Advice  string
}

func (e *MissingControllersError) Error() string {
	return fmt.Sprintf("check controllers of scope %q: %s", e.Scope, e.Advice)
}

// CheckControllers returns a *MissingControllersError when a limit in l has
// no controller in the scope. Call it before releasing the sandbox: systemd
// accepts such a limit and silently does not enforce it.
func (s *Scope) CheckControllers(l Limits) error {
	have, err := s.Controllers()
	if err != nil {
		return err
	}
	missing := MissingControllers(l.Controllers(), have)
	if len(missing) == 0 {
		return nil
	}
	e := &MissingControllersError{Scope: s.name, Missing: missing, Advice: DelegateAdvice(missing)}
	// Delegation cannot help when cgroup2 itself lacks the controller.
	if host, err := HostControllers(); err == nil {
		if absent := MissingControllers(missing, host); len(absent) > 0 {
			e.Advice = HostAdvice(absent)
		}
	}
	return e
}

// Property reads a property of the scope's unit, e.g.
// ("org.freedesktop.systemd1.Scope", "Delegate").
func (s *Scope) Property(ctx context.Context, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := s.obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, iface, name).Store(&v)
	if err != nil {
		return dbus.Variant{}, fmt.Errorf("read property %s.%s of %s: %w", iface, name, s.name, err)
	}
	return v, nil
}

// Stop stops the scope, killing what is left in it (the keeper too), and
// waits until systemd has done so. A scope that is already gone is not an
// error.
func (s *Scope) Stop(ctx context.Context) error {
	defer s.keeper.Release()
	w := s.conn.watchJobs()
	defer w.close()
	var job dbus.ObjectPath
	err := s.conn.manager.CallWithContext(ctx, managerIface+".StopUnit", 0, s.name, "fail").Store(&job)
	if dbusErrorName(err) == errNoSuchUnit {
		return nil // collected already: the scope emptied and CollectMode removed it
	}
	if err != nil {
		return fmt.Errorf("stop scope %q: %w", s.name, err)
	}
	result, err := w.wait(ctx, job)
	if err != nil {
		return fmt.Errorf("stop scope %q: %w", s.name, err)
	}
	if result != "done" {
		return fmt.Errorf("stop scope %q: job %s: %s", s.name, result, s.state(ctx))
	}
	return nil
}
