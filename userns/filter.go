package userns

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp program. In the Config it crosses to init as
// the kernel's own layout (8 bytes an instruction, base64 in the JSON): as a
// list of JSON objects, its ~200 instructions took init some 0.1 ms to
// decode, on every run's start-up path (issue 15).
type Filter []unix.SockFilter

// MarshalJSON writes the program as bytes.
func (f Filter) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(f))
	for i, in := range f {
		binary.LittleEndian.PutUint16(b[8*i:], in.Code)
		b[8*i+2], b[8*i+3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return json.Marshal(b)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (f *Filter) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("seccomp program of %d bytes: not whole instructions", len(b))
	}
	p := make(Filter, len(b)/8)
	for i := range p {
		p[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(b[8*i:]),
			Jt:   b[8*i+2], Jf: b[8*i+3],
			K: binary.LittleEndian.Uint32(b[8*i+4:]),
		}
	}
	*f = p
	return nil
}
