//go:build unix

package graceful

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Descriptor numbers in the child: ExtraFiles start at 3.
const (
	childReadyFd     = 3
	childStderrFd    = 4
	childFirstListen = 5
)

// stderrTailSize is how much of a failing child's standard error the
// parent keeps for its log line.
const stderrTailSize = 4096

// osChild is a next generation started with os/exec.
type osChild struct {
	cmd       *exec.Cmd
	readyCh   chan struct{}
	exitedCh  chan struct{}
	status    string
	readyErr  error
	tail      tailBuffer
	stopOnce  sync.Once
	copyDone  chan struct{}
	readyDone chan struct{}
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
		ReadyFd:    childReadyFd,
		StderrFd:   childStderrFd,
		Mode:       spec.mode,
	}
	extra := []*os.File{readyW, os.Stderr}
	for i, l := range spec.listeners {
		extra = append(extra, l.file)
		h.Listeners = append(h.Listeners, handoverListener{Name: l.name, Fd: childFirstListen + i})
	}
	encoded, err := h.encode()
	if err != nil {
		closeAll(readyR, readyW, stderrR, stderrW)
		return nil, err
	}

	cmd := &exec.Cmd{
		Path:       spec.exe,
		Args:       spec.args,
		Dir:        spec.dir,
		Env:        append(childEnviron(spec.env), handoverEnv+"="+encoded),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     stderrW,
		ExtraFiles: extra,
	}
	// A child inherits an ignored SIGHUP across exec, and the Go runtime
	// keeps it ignored until the program asks for it: a restart signal
	// that reaches the child before NewProcess cannot kill it.
	if spec.restartSignal != nil {
		signal.Ignore(spec.restartSignal)
	}
	err = cmd.Start()
	if spec.rearm != nil {
		spec.rearm()
	}
	closeAll(readyW, stderrW)
	if err != nil {
		closeAll(readyR, stderrR)
		return nil, fmt.Errorf("start %s: %w", spec.exe, err)
	}
	c := &osChild{
		cmd:       cmd,
		readyCh:   make(chan struct{}),
		exitedCh:  make(chan struct{}),
		copyDone:  make(chan struct{}),
		readyDone: make(chan struct{}),
	}
	go c.copyStderr(stderrR)
	go c.readReady(readyR)
	go c.wait()
	return c, nil
}

// childEnviron drops the variables of the previous handover or socket
// activation, which are not the child's.
func childEnviron(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case handoverEnv, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

func (c *osChild) pid() int                { return c.cmd.Process.Pid }
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
// first, means the child is not ready.
func (c *osChild) readReady(r *os.File) {
	defer close(c.readyDone)
	defer r.Close()
	line, err := bufio.NewReader(io.LimitReader(r, 128)).ReadString('\n')
	if err != nil {
		c.readyErr = fmt.Errorf("ready pipe closed before the ready line: %w", err)
		return
	}
	if line != fmt.Sprintf(readyLine, c.pid()) {
		c.readyErr = fmt.Errorf("unexpected ready line %q", strings.TrimSpace(line))
		return
	}
	close(c.readyCh)
}

func (c *osChild) wait() {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		c.status = "exit status 0"
	case errors.As(err, &ee):
		c.status = ee.ProcessState.String()
	default:
		c.status = err.Error()
	}
	close(c.exitedCh)
}

func (c *osChild) stop(grace time.Duration) {
	c.stopOnce.Do(func() {
		select {
		case <-c.exitedCh:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.exitedCh:
			return
		case <-t.C:
		}
		_ = c.cmd.Process.Kill()
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
