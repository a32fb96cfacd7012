//go:build unix

package graceful

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds of what a parent keeps of a child's standard error before it is
// ready: the output itself, written out once the child is ready, and the
// tail that a failure's log line quotes.
const (
	stderrHoldSize = 64 << 10
	stderrTailSize = 4096
)

// osChild is a process started by startChild, seen from its parent.
type osChild struct {
	pidN int
	link *link

	readyCh  chan struct{}
	readyMu  sync.Mutex // guards readyMsg and readyFds
	readyMsg linkMsg
	readyFds []int
	msgs     chan linkMsg // after ready

	exitedCh chan struct{}
	exitOnce sync.Once
	status   string

	out      *heldOutput
	stopOnce sync.Once
}

// startChild starts a process with the sockets of spec, described to it
// by the handover variable, and a link to report on. Until the child is
// ready, its standard error is a pipe whose output this process holds: it
// is written to this process's standard error once the child is ready, or
// quoted in the log line that says why it failed.
func startChild(spec childSpec) (child, error) {
	parentEnd, childLink, err := newLinkPair()
	if err != nil {
		return nil, err
	}
	pipeR, pipeW, err := pipeCloexec()
	if err != nil {
		parentEnd.close()
		closeFd(childLink)
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	closeChildEnds := func() {
		closeFd(childLink)
		closeFd(pipeW)
	}

	// The child's descriptors: 0 and 1 as ours, 2 the pipe, then the
	// link, our standard error, the pipe's read end and the sockets,
	// from 3 on in a row (see parseHandover).
	h := spec.handover
	h.Version = handoverVersion
	files := []uintptr{0, 1, uintptr(pipeW)}
	add := func(fd int) int {
		files = append(files, uintptr(fd))
		return len(files) - 1
	}
	h.LinkFd = add(childLink)
	h.StderrFd = add(2)
	h.PipeFd = add(pipeR)
	h.Sockets = nil
	for _, s := range spec.sockets {
		h.Sockets = append(h.Sockets, handoverSocket{Name: s.name, Fd: add(s.fd), FdName: s.fdName})
	}
	encoded, err := h.encode()
	if err != nil {
		parentEnd.close()
		closeChildEnds()
		closeFd(pipeR)
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Dir:   spec.dir,
		Env:   append(childEnviron(spec.env), HandoverEnv+"="+encoded),
		Files: files,
	}
	// Under systemd, a successor is started as systemd's own child (see
	// adoptBySystemd); a worker stays its supervisor's.
	adopted := spec.handover.Role == roleNameProcess && spec.reaper == nil && adoptBySystemd(attr)
	pid, err := syscall.ForkExec(spec.exe, spec.args, attr)
	closeChildEnds()
	if err != nil {
		parentEnd.close()
		closeFd(pipeR)
		return nil, fmt.Errorf("start %s: %w", spec.exe, err)
	}
	c := &osChild{
		pidN:     pid,
		link:     parentEnd,
		readyCh:  make(chan struct{}),
		msgs:     make(chan linkMsg, 16),
		exitedCh: make(chan struct{}),
		out:      newHeldOutput(os.NewFile(uintptr(pipeR), "child stderr")),
	}
	go c.out.copy()
	go c.readLink()
	switch {
	case spec.reaper != nil:
		spec.reaper.watch(pid, c.markExited)
	case adopted:
		go c.watchAdopted()
	default:
		go c.wait()
	}
	return c, nil
}

// childEnviron drops the variables of the previous handover or socket
// activation, which are not the child's.
func childEnviron(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case HandoverEnv, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (c *osChild) pid() int                { return c.pidN }
func (c *osChild) ready() <-chan struct{}  { return c.readyCh }
func (c *osChild) exited() <-chan struct{} { return c.exitedCh }
func (c *osChild) exitStatus() string      { return c.status }
func (c *osChild) messages() <-chan linkMsg {
	return c.msgs
}

// readySockets returns the sockets a worker passed with its ready message;
// the caller owns the descriptors.
func (c *osChild) readySockets() ([]handoverSocket, []int) {
	c.readyMu.Lock()
	defer c.readyMu.Unlock()
	fds := c.readyFds
	c.readyFds = nil
	return c.readyMsg.Sockets, fds
}

// readLink reads the child's messages: first its ready message, then the
// others, until the link closes.
func (c *osChild) readLink() {
	defer close(c.msgs)
	// The link is closed here, once the child's end is: a message the
	// child sent just before it exited (its final totals) is read first.
	defer c.link.close()
	ready := false
	for {
		m, fds, err := c.link.recv()
		if err != nil {
			return
		}
		if !ready {
			if m.Type != msgReady || m.PID != c.pidN {
				for _, fd := range fds {
					closeFd(fd)
				}
				return // not a child that knows the protocol: never ready
			}
			c.readyMu.Lock()
			c.readyMsg, c.readyFds = m, fds
			c.readyMu.Unlock()
			ready = true
			c.out.release()
			close(c.readyCh)
			continue
		}
		for _, fd := range fds {
			closeFd(fd) // only a ready message carries sockets
		}
		c.msgs <- m
	}
}

// send sends a message to the child.
func (c *osChild) send(m linkMsg) error { return c.link.send(m) }

// stderrTail returns the last lines the child wrote to standard error
// before it was ready.
func (c *osChild) stderrTail() string {
	// The copy ends when the child exits or switches its standard error
	// away; wait briefly so that its last words are included.
	select {
	case <-c.out.done:
	case <-time.After(200 * time.Millisecond):
	}
	return c.out.tail()
}

// wait reaps the child (outside PID 1, where a reaper does it).
func (c *osChild) wait() {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pidN, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			c.markExited(err.Error())
			return
		}
		c.markExited(waitStatusString(ws))
		return
	}
}

// markExited records how the child ended, once it has been reaped.
func (c *osChild) markExited(status string) {
	c.exitOnce.Do(func() {
		c.status = status
		c.readyMu.Lock()
		for _, fd := range c.readyFds {
			closeFd(fd)
		}
		c.readyFds = nil
		c.readyMu.Unlock()
		close(c.exitedCh)
	})
}

// signal sends sig to the child unless it has been reaped.
func (c *osChild) signal(sig os.Signal) {
	select {
	case <-c.exitedCh:
	default:
		if s, ok := sig.(syscall.Signal); ok {
			_ = unix.Kill(c.pidN, s)
		}
	}
}

// stop asks the child to stop (SIGTERM), kills it after grace (SIGKILL,
// which also ends a stopped process), and returns once it has been reaped.
func (c *osChild) stop(grace time.Duration) {
	c.stopOnce.Do(func() {
		select {
		case <-c.exitedCh:
			return
		default:
		}
		c.signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.exitedCh:
			return
		case <-t.C:
		}
		c.signal(syscall.SIGKILL)
	})
	<-c.exitedCh
}

// heldOutput copies a child's standard error: held until the child is
// ready (then written out), bounded, with the tail kept for a failure's
// log line.
type heldOutput struct {
	r    *os.File
	done chan struct{}

	mu       sync.Mutex
	held     []byte
	tailBuf  []byte
	released bool
}

func newHeldOutput(r *os.File) *heldOutput {
	return &heldOutput{r: r, done: make(chan struct{})}
}

func (h *heldOutput) copy() {
	defer close(h.done)
	defer h.r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := h.r.Read(buf)
		if n > 0 {
			h.write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (h *heldOutput) write(p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tailBuf = append(h.tailBuf, p...)
	if over := len(h.tailBuf) - stderrTailSize; over > 0 {
		h.tailBuf = append(h.tailBuf[:0], h.tailBuf[over:]...)
	}
	if h.released {
		_, _ = os.Stderr.Write(p)
		return
	}
	h.held = append(h.held, p...)
	if len(h.held) > stderrHoldSize {
		// Too much to hold: let it through.
		_, _ = os.Stderr.Write(h.held)
		h.held = h.held[:0]
	}
}

// release writes out what was held and lets the rest through: the child
// is ready, its output is no failure's last words.
func (h *heldOutput) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) > 0 {
		_, _ = os.Stderr.Write(h.held)
	}
	h.held = nil
	h.released = true
}

func (h *heldOutput) tail() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.TrimSpace(string(h.tailBuf))
}
