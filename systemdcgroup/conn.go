package systemdcgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	systemdBus      = "org.freedesktop.systemd1"
	systemdPath     = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIface    = "org.freedesktop.systemd1.Manager"
	unitIface       = "org.freedesktop.systemd1.Unit"
	scopeIface      = "org.freedesktop.systemd1.Scope"
	errUnitExists   = "org.freedesktop.systemd1.UnitExists"
	errNoSuchUnit   = "org.freedesktop.systemd1.NoSuchUnit"
	jobTimeout      = 30 * time.Second // go-systemd and runc wait this long
	noManagerAdvice = "install dbus-user-session and log in with a systemd session"
)

// ErrNoManager means no systemd user manager answers on D-Bus. Callers may
// fall back to OwnCgroup, or run without limits if none were asked for.
var ErrNoManager = errors.New("no systemd user manager on D-Bus")

// Conn is a connection to the user's systemd manager. The caller owns it,
// passes it to whoever starts scopes, and closes it. Safe for concurrent use.
type Conn struct {
	bus     *dbus.Conn
	manager dbus.BusObject
}

// userBusAddresses lists where the user bus may be: the session address alone
// when it is set (an explicit address is never second-guessed, as in sd-bus);
// otherwise $XDG_RUNTIME_DIR/bus, then /run/user/UID/bus (for shells that lost
// the environment, e.g. after su).
func userBusAddresses() []string {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return []string{a}
	}
	var addrs []string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		addrs = append(addrs, "unix:path="+d+"/bus")
	}
	addrs = append(addrs, "unix:path=/run/user/"+strconv.Itoa(os.Geteuid())+"/bus")
	return slices.Compact(addrs) // the usual case: all three are one socket
}

// Connect connects to the user's systemd manager on the user bus. The context
// bounds only the connecting, not the connection.
func Connect(ctx context.Context) (*Conn, error) {
	return connectFirst(ctx, userBusAddresses())
}

// connectFirst connects to the first of addrs that answers.
func connectFirst(ctx context.Context, addrs []string) (*Conn, error) {
	var errs []string
	for _, addr := range addrs {
		bus, err := dialUserBus(ctx, addr)
		if err == nil {
			return &Conn{bus: bus, manager: bus.Object(systemdBus, systemdPath)}, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to user bus %s: %w", addr, err)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
	}
	return nil, fmt.Errorf("%w (%s): %s", ErrNoManager, strings.Join(errs, "; "), noManagerAdvice)
}

func dialUserBus(ctx context.Context, addr string) (*dbus.Conn, error) {
	// EXTERNAL with the numeric uid: the daemon checks it against
	// SO_PEERCRED, and a name lookup could fail in a minimal environment.
	auth := []dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Geteuid()))}
	bus, err := dbus.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	// godbus's Auth and Hello take no context; closing the connection
	// unblocks them.
	stop := context.AfterFunc(ctx, func() { _ = bus.Close() })
	err = bus.Auth(auth)
	if err == nil {
		err = bus.Hello()
	}
	if !stop() {
		_ = bus.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		_ = bus.Close()
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	// Subscribe to JobRemoved once, before any job exists: systemd
	// broadcasts it to the job's requester only while a match is set, and a
	// fast job can finish before its method call returns (go-systemd).
	err = bus.AddMatchSignalContext(ctx,
		dbus.WithMatchSender(systemdBus),
		dbus.WithMatchObjectPath(systemdPath),
		dbus.WithMatchInterface(managerIface),
		dbus.WithMatchMember("JobRemoved"))
	if err != nil {
		_ = bus.Close()
		return nil, fmt.Errorf("subscribe to JobRemoved: %w", err)
	}
	return bus, nil
}

// Close closes the connection. Scopes started on it stay.
func (c *Conn) Close() error {
	if err := c.bus.Close(); err != nil {
		return fmt.Errorf("close user bus: %w", err)
	}
	return nil
}

// jobWatch collects JobRemoved signals from before a job is requested until
// it is waited for. Create it before the call that makes the job.
type jobWatch struct {
	bus *dbus.Conn
	ch  chan *dbus.Signal
}

func (c *Conn) watchJobs() *jobWatch {
	w := &jobWatch{bus: c.bus, ch: make(chan *dbus.Signal, 16)}
	c.bus.Signal(w.ch)
	return w
}

func (w *jobWatch) close() { w.bus.RemoveSignal(w.ch) }

// wait returns the result of job ("done", "failed", "canceled", "timeout",
// "dependency", "skipped") once systemd removes it.
func (w *jobWatch) wait(ctx context.Context, job dbus.ObjectPath) (string, error) {
	timer := time.NewTimer(jobTimeout)
	defer timer.Stop()
	for {
		select {
		case sig, ok := <-w.ch:
			if !ok {
				return "", fmt.Errorf("wait for job %s: user bus closed", job)
			}
			if sig.Name != managerIface+".JobRemoved" || len(sig.Body) < 4 {
				continue
			}
			if p, _ := sig.Body[1].(dbus.ObjectPath); p == job {
				result, _ := sig.Body[3].(string)
				return result, nil
			}
		case <-timer.C:
			return "", fmt.Errorf("wait for job %s: systemd did not finish it within %v", job, jobTimeout)
		case <-ctx.Done():
			return "", fmt.Errorf("wait for job %s: %w", job, ctx.Err())
		}
	}
}

// unitPath is the object path systemd gives a unit: its name with every byte
// but [A-Za-z0-9] (and a leading digit) as _xx (systemd bus_label_escape).
// Computing it saves a GetUnit round trip per call.
func unitPath(name string) dbus.ObjectPath {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteString("/org/freedesktop/systemd1/unit/")
	if name == "" {
		b.WriteByte('_')
	}
	for i := range len(name) {
		c := name[i]
		alpha := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		digit := c >= '0' && c <= '9'
		if alpha || (digit && i > 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return dbus.ObjectPath(b.String())
}

// dbusErrorName returns the D-Bus error name of err, or "".
func dbusErrorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var dp *dbus.Error
	if errors.As(err, &dp) {
		return dp.Name
	}
	return ""
}

// noManager turns "nobody owns org.freedesktop.systemd1" into ErrNoManager:
// a session bus (dbus-launch) can run without a systemd user manager.
func noManager(err error) error {
	switch dbusErrorName(err) {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return fmt.Errorf("%w (%w): %s", ErrNoManager, err, noManagerAdvice)
	}
	return err
}
