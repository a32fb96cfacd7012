//go:build unix

package graceful

import (
	"errors"
	"fmt"
	"os"
	"slices"
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
	sys  system
	pidN int
	link *link

	readyCh  chan struct{}
	readyMu  sync.Mutex // guards readyMsg, readyFds and failed
	readyMsg linkMsg
	readyFds []int
	failed   string        // the child's own account of a failure before ready
	msgs     chan linkMsg  // after ready
	linkDone chan struct{} // closed when the link has been read to its end

	exitedCh chan struct{}
	exitOnce sync.Once
	status   string

	// linkIno is the inode of the child's end of the link (0: unknown),
	// by which stop finds what the child left behind (see killLeftovers).
	linkIno   uint64
	leftovers int // processes stop killed that way

	out      *heldOutput
	stopOnce sync.Once
}

// startChild starts a process with the sockets of spec, described to it
// by the handover variable, and a link to report on; the first message on
// the link is spec.state, with the files passed on. Until the child is
// ready, its standard error is a pipe whose output this process holds: it
// is written to this process's standard error once the child is ready, or
// quoted in the log line that says why it failed.
func startChild(sys system, spec childSpec) (child, error) {
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
	// link, our standard error, the pipe's read end, the lifelines and
	// the sockets, from 3 on in a row (see parseHandover).
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
	h.Ancestors = slices.Clone(h.Ancestors)
	for i, a := range h.Ancestors {
		if a.Lifeline >= 0 {
			h.Ancestors[i].Lifeline = add(a.Lifeline)
		}
	}
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
	// parentToSystemd); a worker stays its supervisor's.
	systemdChild := spec.handover.Role == roleNameProcess && spec.reaper == nil && sys.parentIsSystemd() && parentToSystemd(attr)
	// Descriptors a shell or a service manager left open without
	// close-on-exec must not leak into the next generation: it gets
	// exactly those of the handover.
	closeOnExecAbove()
	var linkStat unix.Stat_t
	_ = unix.Fstat(childLink, &linkStat)
	pid, err := sys.forkExec(spec.exe, spec.args, attr)
	closeChildEnds()
	if err != nil {
		parentEnd.close()
		closeFd(pipeR)
		if errors.Is(err, syscall.ENOENT) && spec.dir != "" && !isDir(spec.dir) {
			// The binary may well be there: the directory is not.
			err = fmt.Errorf("%w: the working directory %s, in which a new generation starts, no longer exists; start the service from a directory that outlives a deploy (a symlink the deploy updates, given in PWD, or /)",
				err, spec.dir)
		}
		if errors.Is(err, syscall.E2BIG) {
			// Linux bounds one environment variable at 128 KiB.
			err = fmt.Errorf("%w: the handover of %d sockets is %d bytes in %s, more than the system lets one environment variable hold; serve fewer sockets from one process",
				err, len(spec.sockets), len(encoded), HandoverEnv)
		}
		return nil, fmt.Errorf("start %s: %w", spec.exe, err)
	}
	c := &osChild{
		sys:      sys,
		pidN:     pid,
		link:     parentEnd,
		readyCh:  make(chan struct{}),
		msgs:     make(chan linkMsg, 16),
		linkDone: make(chan struct{}),
		exitedCh: make(chan struct{}),
		out:      newHeldOutput(os.NewFile(uintptr(pipeR), "child stderr")),
		linkIno:  uint64(linkStat.Ino),
	}
	// The state goes first on the link: the child reads it as it starts.
	// It names the child's PID, which the child checks: a wrapper that
	// started the program without exec would otherwise serve a process
	// this one neither started nor follows.
	state := spec.state
	state.PID = pid
	var stateFds []int
	for _, f := range spec.files {
		state.Files = append(state.Files, f.passedFile)
		stateFds = append(stateFds, f.fd)
	}
	if err := parentEnd.send(state, stateFds...); err != nil {
		// Not started, as far as it knows: it fails without the state,
		// and is reaped as one that failed.
		_ = sys.kill(pid, syscall.SIGKILL)
	}
	go c.out.copy()
	go c.readLink()
	switch {
	case spec.reaper != nil:
		spec.reaper.watch(pid, c.markExited)
	case systemdChild:
		go c.watchSystemdChild()
	default:
		go func() { c.markExited(sys.wait(pid)) }()
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

func (c *osChild) pid() int { return c.pidN }
func (c *osChild) failure() string {
	// A child that failed says why just before it exits: read the link
	// to its end first (it closes with the child), briefly.
	select {
	case <-c.linkDone:
	case <-time.After(200 * time.Millisecond):
	}
	c.readyMu.Lock()
	defer c.readyMu.Unlock()
	return c.failed
}
func (c *osChild) ready() <-chan struct{}  { return c.readyCh }
func (c *osChild) exited() <-chan struct{} { return c.exitedCh }
func (c *osChild) exitStatus() string      { return c.status }
func (c *osChild) messages() <-chan linkMsg {
	return c.msgs
}

// readyHandover returns what the child passed with its ready message: the
// sockets it serves (a worker's with descriptors) and the files it passes
// on; the caller owns the descriptors, which it gets once.
func (c *osChild) readyHandover() ([]handoverSocket, []int, []passedFile, []int) {
	c.readyMu.Lock()
	defer c.readyMu.Unlock()
	fds := c.readyFds
	c.readyFds = nil
	n := 0
	for _, s := range c.readyMsg.Sockets {
		if s.Fd >= 0 {
			n++
		}
	}
	if len(fds) < n {
		n = len(fds)
	}
	return c.readyMsg.Sockets, fds[:n:n], c.readyMsg.Files, fds[n:]
}

// readLink reads the child's messages: first its ready message (or its
// failure), then the others, until the link closes. A ping from the
// parent is answered by the child's own link reader; the child's pongs
// pass through here like any message.
func (c *osChild) readLink() {
	defer close(c.linkDone)
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
			switch {
			case m.Type == msgFailed:
				c.readyMu.Lock()
				c.failed = m.Error
				c.readyMu.Unlock()
				continue
			case m.Type != msgReady || m.PID != c.pidN:
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
		c.deliver(m, fds)
	}
}

// deliver passes on m, a message the child sent after it was ready. Only
// a resumed message keeps the descriptors it carries (its receiver owns
// them); those of any other are closed.
func (c *osChild) deliver(m linkMsg, fds []int) {
	if m.Type == msgResumed {
		m.fds = fds
	} else {
		closeAll(fds)
	}
	c.msgs <- m
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
			_ = c.sys.kill(c.pidN, s)
		}
	}
}

// stop asks the child to stop (SIGTERM), kills it after grace (SIGKILL,
// which also ends a stopped process), and returns once it has been reaped.
func (c *osChild) stop(grace time.Duration) int {
	c.stopOnce.Do(func() {
		select {
		case <-c.exitedCh:
		default:
			c.signal(syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-c.exitedCh:
			case <-t.C:
				c.signal(syscall.SIGKILL)
			}
			t.Stop()
		}
		<-c.exitedCh
		c.leftovers = killLeftovers(c.linkIno)
	})
	<-c.exitedCh
	return c.leftovers
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

// linkFd returns a new descriptor of this end of the link.
func (c *osChild) linkFd() (int, error) { return c.link.fd() }

func (c *osChild) outputCopied() <-chan struct{} { return c.out.done }

// followWorker makes a child of a worker this process started in a
// previous image (a supervisor's, see reexec_supervisor.go): ready, on its
// link, reaped by wait (or the reaper of a PID 1).
func followWorker(sys system, pid int, l *link, rp *reaper) child {
	c := &osChild{
		sys:      sys,
		pidN:     pid,
		link:     l,
		readyCh:  make(chan struct{}),
		msgs:     make(chan linkMsg, 16),
		linkDone: make(chan struct{}),
		exitedCh: make(chan struct{}),
		out:      newHeldOutput(nil),
	}
	close(c.readyCh)
	c.out.released = true
	close(c.out.done)
	go c.readReadyLink()
	if rp != nil {
		rp.watch(pid, c.markExited)
	} else {
		go func() { c.markExited(sys.wait(pid)) }()
	}
	return c
}

// readReadyLink reads the messages of a worker that was ready before
// (see followWorker).
func (c *osChild) readReadyLink() {
	defer close(c.linkDone)
	defer close(c.msgs)
	defer c.link.close()
	for {
		m, fds, err := c.link.recv()
		if err != nil {
			return
		}
		c.deliver(m, fds)
	}
}

func (c *osChild) readyMessage() linkMsg {
	c.readyMu.Lock()
	defer c.readyMu.Unlock()
	return c.readyMsg
}

// isDir reports whether path names a directory.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
