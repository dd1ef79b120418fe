package ociruntime

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Report is `state`'s answer, as runc prints it.
type Report struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Inspect reports a container's state. A stopped container has PID 0, as
// with runc: its recorded PID may belong to someone else by now.
func Inspect(root, id string) (Report, error) {
	c, err := Open(root, id, false)
	if err != nil {
		return Report{}, err
	}
	defer c.Close()
	r := Report{OCIVersion: specs.Version, ID: id, Status: c.Status()}
	if st := c.State; st != nil {
		r.Bundle, r.Rootfs, r.Created, r.Owner, r.Annotations = st.Bundle, st.Rootfs, st.Created, st.Owner, st.Annotations
		if r.Status != Stopped {
			r.Pid = st.Pid
		}
	}
	return r, nil
}
