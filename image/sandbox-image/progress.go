package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"sandbox/image/unpack"
	"sandbox/quote"
)

// progress draws one line on a terminal while layers come in, and sums up
// what the unpacker had to leave out.
type progress struct {
	name    string
	tty     bool
	total   int
	layers  atomic.Int64
	bytes   atomic.Int64
	stop    chan struct{}
	stopped sync.WaitGroup

	mu       sync.Mutex
	devices  []string
	nDevices int
	unmapped int
	dropped  int
}

func newProgress(quiet bool, name string) *progress {
	_, err := unix.IoctlGetTermios(2, unix.TCGETS)
	return &progress{name: quote.Name(name), tty: !quiet && err == nil}
}

func (p *progress) start(layers int) {
	p.total = layers
	if !p.tty || layers == 0 {
		return
	}
	p.stop = make(chan struct{})
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			p.draw()
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
			}
		}
	}()
}

func (p *progress) draw() {
	fmt.Fprintf(os.Stderr, "\r\x1b[Kpulling %s: %d/%d layers, %.1f MB", p.name, p.layers.Load(), p.total, float64(p.bytes.Load())/1e6)
}

func (p *progress) layerDone() { p.layers.Add(1) }

// counter counts the bytes read through it.
func (p *progress) counter(r io.Reader) io.Reader { return countReader{r, &p.bytes} }

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// note adds a layer's leftovers to the summary.
func (p *progress) note(st unpack.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nDevices += st.NDevices
	if len(p.devices) < 3 {
		p.devices = append(p.devices, st.Devices...)
	}
	p.unmapped += st.Unmapped
	p.dropped += st.Dropped
}

// done ends the progress line and says, one line each, what was left out.
func (p *progress) done() {
	if p.stop != nil {
		close(p.stop)
		p.stopped.Wait()
		p.stop = nil
	}
	if p.nDevices > 0 {
		names := p.devices[:min(3, len(p.devices))]
		fmt.Fprintf(os.Stderr, "sandbox: note: %d device nodes of the image skipped (%s): a sandbox has a /dev of its own\n", p.nDevices, quote.Short(strings.Join(names, " "), 120))
	}
	if p.unmapped > 0 {
		fmt.Fprintf(os.Stderr, "sandbox: note: %d files of the image belong to IDs your sub-ID ranges do not reach; they belong to root inside\n", p.unmapped)
	}
	if p.dropped > 0 {
		fmt.Fprintf(os.Stderr, "sandbox: note: %d extended attributes of the image dropped (only user.* ones are kept)\n", p.dropped)
	}
}
