//go:build unix

package graceful

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stderrTailSize is how much of a failing child's standard error the
// parent keeps for its log line.
const stderrTailSize = 4096

// osChild is a next generation started with os.StartProcess.
type osChild struct {
	proc     *os.Process
	control  *os.File // write end of a worker's control pipe, or nil
	readyCh  chan struct{}
	exitedCh chan struct{}
	exitOnce sync.Once
	status   string
	tail     tailBuffer
	stopOnce sync.Once
	copyDone chan struct{}
}

// startChild starts the next generation. The child gets the listening
// sockets as extra files, a pipe to report readiness on, and, until it is
// ready, a pipe as standard error that the parent copies to its own
// standard error and keeps the tail of. Every descriptor the parent made
// for the child is closed in the parent once the child has started (or
// failed to), whatever happens.
func startChild(spec childSpec) (child, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ready pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		_ = readyR.Close()
		_ = readyW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	h := handover{
		Version:    handoverVersion,
		Generation: spec.generation,
		Ancestors:  spec.ancestors,
		Mode:       spec.mode,
	}
	// The child's descriptors: 0-2, then the extra files from 3 on.
	files := []*os.File{os.Stdin, os.Stdout, stderrW}
	add := func(f *os.File) int {
		files = append(files, f)
		return len(files) - 1
	}
	h.ReadyFd = add(readyW)
	h.StderrFd = add(os.Stderr)
	var controlR, controlW *os.File
	if spec.mode == workerMode {
		if controlR, controlW, err = os.Pipe(); err != nil {
			closeAll(readyR, readyW, stderrR, stderrW)
			return nil, fmt.Errorf("control pipe: %w", err)
		}
		h.ControlFd = add(controlR)
	}
	for _, l := range spec.listeners {
		h.Listeners = append(h.Listeners, handoverListener{Name: l.name, Fd: add(l.file)})
	}
	encoded, err := h.encode()
	if err != nil {
		closeAll(readyR, readyW, stderrR, stderrW, controlR, controlW)
		return nil, err
	}

	// A child inherits an ignored SIGHUP across exec, and the Go runtime
	// keeps it ignored until the program asks for it: a restart signal
	// that reaches the child before NewProcess cannot kill it.
	if spec.restartSignal != nil {
		signal.Ignore(spec.restartSignal)
	}
	attr := &os.ProcAttr{
		Dir:   spec.dir,
		Env:   append(childEnviron(spec.env), HandoverEnv+"="+encoded),
		Files: files,
	}
	adopted := spec.mode != workerMode && spec.reaper == nil && adoptBySystemd(attr)
	proc, err := os.StartProcess(spec.exe, spec.args, attr)
	if spec.rearm != nil {
		spec.rearm()
	}
	closeAll(readyW, stderrW, controlR)
	if err != nil {
		closeAll(readyR, stderrR, controlW)
		return nil, fmt.Errorf("start %s: %w", spec.exe, err)
	}
	c := &osChild{
		proc:     proc,
		control:  controlW,
		readyCh:  make(chan struct{}),
		exitedCh: make(chan struct{}),
		copyDone: make(chan struct{}),
	}
	go c.copyStderr(stderrR)
	go c.readReady(readyR)
	switch {
	case spec.reaper != nil:
		spec.reaper.watch(proc.Pid, c.markExited)
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

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (c *osChild) pid() int                { return c.proc.Pid }
func (c *osChild) ready() <-chan struct{}  { return c.readyCh }
func (c *osChild) exited() <-chan struct{} { return c.exitedCh }
func (c *osChild) exitStatus() string      { return c.status }

func (c *osChild) stderrTail() string {
	// The copy finishes when the child exits or switches its standard
	// error away; wait briefly so that its last words are included.
	select {
	case <-c.copyDone:
	case <-time.After(200 * time.Millisecond):
	}
	return c.tail.String()
}

// copyStderr forwards the child's standard error to ours and keeps its
// tail.
func (c *osChild) copyStderr(r *os.File) {
	defer close(c.copyDone)
	defer r.Close()
	_, _ = io.Copy(io.MultiWriter(os.Stderr, &c.tail), r)
}

// readReady waits for the ready line. Anything else, or the pipe closing
// first, leaves the child not ready: its exit or the upgrade timeout then
// ends the attempt.
func (c *osChild) readReady(r *os.File) {
	defer r.Close()
	line, err := bufio.NewReader(io.LimitReader(r, 128)).ReadString('\n')
	if err == nil && line == fmt.Sprintf(readyLine, c.pid()) {
		close(c.readyCh)
	}
}

// wait reaps the child (outside PID 1, where a reaper does it).
func (c *osChild) wait() {
	st, err := c.proc.Wait()
	if err != nil {
		c.markExited(err.Error())
		return
	}
	c.markExited(st.String())
}

// markExited records how the child ended, once it has been reaped.
func (c *osChild) markExited(status string) {
	c.exitOnce.Do(func() {
		c.status = status
		if c.control != nil {
			_ = c.control.Close()
		}
		close(c.exitedCh)
	})
}

// requestDrain tells a worker to hand over: stop accepting, drain, exit.
func (c *osChild) requestDrain() error {
	if c.control == nil {
		return errors.New("the child has no control pipe")
	}
	if _, err := io.WriteString(c.control, controlDrain+"\n"); err != nil {
		return fmt.Errorf("tell worker %d to drain: %w", c.pid(), err)
	}
	return nil
}

// signal sends sig to the child unless it has been reaped.
func (c *osChild) signal(sig os.Signal) {
	select {
	case <-c.exitedCh:
	default:
		_ = c.proc.Signal(sig)
	}
}

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
		<-c.exitedCh
	})
	<-c.exitedCh
}

// tailBuffer keeps the last stderrTailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - stderrTailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
