package userns

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sandbox/quote"
)

// Msg is one step of the handshake, one frame in each direction (frame, below).
//
//	parent -> init (fd 3):  Config, Mapped, Go
//	init -> parent (fd 4):  Error (any stage) or Exit; Stopped on ^Z
//	parent -> init:         Continue once resumed
type Msg struct {
	Type   MsgType `json:"type"`
	Config *Config `json:"config,omitempty"`
	// Error fields: the stage that failed, what happened, and the exit code the
	// parent should use (125 setup, 126 not executable, 127 not found).
	Stage string `json:"stage,omitempty"`
	Err   string `json:"err,omitempty"`
	Code  int    `json:"code,omitempty"`
	// Exit fields: how the command ended.
	Status int `json:"status,omitempty"`
	Signal int `json:"signal,omitempty"`
	// Discarded, with Exit: what the command wrote to the memory layer of
	// an ephemeral run (bytes, and files and directories), which goes with
	// the sandbox.
	Discarded      int64 `json:"discarded,omitempty"`
	DiscardedFiles int64 `json:"discardedFiles,omitempty"`
	// Go: the host directory of the cgroup that holds init, if any.
	Cgroup string `json:"cgroup,omitempty"`
	// Continue: whether the parent was resumed in the foreground (fg, not bg).
	Foreground bool `json:"foreground,omitempty"`
	// Exec: the process to start in the running container (oci_exec.go);
	// ExecStarted: its PID inside.
	Exec    *ExecRequest `json:"exec,omitempty"`
	ExecPid int          `json:"execPid,omitempty"`
}

// MsgType names a handshake message.
type MsgType string

const (
	MsgConfig MsgType = "Config"
	MsgMapped MsgType = "Mapped" // ID maps written: init may create files.
	MsgGo     MsgType = "Go"     // The scope holds init: the command may start.
	MsgError  MsgType = "Error"
	MsgExit   MsgType = "Exit"
	// Job control on a terminal: the command stopped (^Z), and the parent,
	// resumed by the caller's shell, lets it continue.
	MsgStopped  MsgType = "Stopped"
	MsgContinue MsgType = "Continue"
	// The OCI runtime's create/start (oci.go): init is set up and waits
	// (Created, to the parent), `start` releases it over the start socket
	// (Start) and hears back once the command runs (Started) or why not
	// (Error).
	MsgCreated MsgType = "Created"
	MsgStart   MsgType = "Start"
	MsgStarted MsgType = "Started"
	// The control door after that (oci_exec.go): Console asks, before
	// start, for the command's terminal (answered with the pty's master);
	// Exec starts a process (ExecStarted, later Exit; Signal from the
	// caller meanwhile).
	MsgConsole     MsgType = "Console"
	MsgExec        MsgType = "Exec"
	MsgExecStarted MsgType = "ExecStarted"
	MsgSignal      MsgType = "Signal"
)

// ChildError is a failure reported by init, carried back to the parent so the
// user sees what failed inside instead of "exit status 125".
type ChildError struct {
	Stage string
	Msg   string
	Code  int
}

// Error is one line that prints as itself: what init says may hold names a
// command or an image chose (paths, the command's name), and it reaches the
// user's terminal.
func (e *ChildError) Error() string {
	return fmt.Sprintf("%s: %s", e.Stage, quote.Line(e.Msg))
}

func encode(m Msg) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("encode %s: %v", m.Type, err)) // only plain fields: cannot fail
	}
	return append(b, '\n')
}

// Between the parent and init, over their two pipes, a message is a frame:
// its length as a varint, then the Msg in wire.go's form (byte for byte, and
// without encoding/json's first use on the start-up path: issue 15). Both
// ends are one binary (/proc/self/exe). The OCI runtime's sockets carry JSON
// lines instead (encode, oci_conn.go): a sandbox-runc of another version may
// read them.
func frame(m Msg) []byte {
	b := marshalWire(&m)
	return append(binary.AppendUvarint(make([]byte, 0, len(b)+3), uint64(len(b))), b...)
}

// maxFrame bounds a frame: a Config with a large environment or seccomp
// program is tens of KiB.
const maxFrame = 64 << 20

// frames reads the frames of a pipe.
type frames struct{ r *bufio.Reader }

func newFrames(r io.Reader) *frames { return &frames{bufio.NewReader(r)} }

// next returns the next message; io.EOF at a clean end.
func (f *frames) next() (Msg, error) {
	n, err := binary.ReadUvarint(f.r)
	if err != nil {
		return Msg{}, err
	}
	if n > maxFrame {
		return Msg{}, fmt.Errorf("message of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the length came, its message did not
		}
		return Msg{}, fmt.Errorf("read message: %w", err)
	}
	var m Msg
	return m, unmarshalWire(b, &m)
}

// msgOut is where init reports: the parent's pipe (frames), or, once an OCI
// start has taken over (oci.go), the start connection (JSON lines, read by
// that sandbox-runc).
type msgOut struct {
	f    *os.File
	json bool
}

func (o msgOut) send(m Msg) error {
	var b []byte
	if o.json {
		b = encode(m)
	} else {
		b = frame(m)
	}
	_, err := o.f.Write(b)
	return err
}
