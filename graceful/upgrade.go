package graceful

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// restartRequest is a call to Restart waiting for its outcome.
type restartRequest struct {
	ctx    context.Context
	result chan error
}

// upgradeResult is the outcome of one attempt to start the next
// generation.
type upgradeResult struct {
	child child
	err   error
	req   *restartRequest // nil when a signal asked for it
}

// childStopGrace is how long a failed new generation gets to stop after
// SIGTERM before it is killed. It may have started serving at the very
// moment it was given up on; a graceful stop lets it drain.
func (p *Process) childStopGrace() time.Duration {
	grace := 5 * time.Second
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.servers {
		grace = max(grace, s.config.GracefulShutdownTimeout+time.Second)
	}
	return grace
}

// liveAncestors returns the older generations that are still running.
func (p *Process) liveAncestors() []int {
	var live []int
	for _, pid := range p.ancestors {
		if p.sys.processAlive(pid) {
			live = append(live, pid)
		}
	}
	return live
}

// upgrade starts the next generation of a re-exec process and waits until
// it is ready, has failed, or ctx ends.
func (p *Process) upgrade(ctx context.Context) (child, error) {
	if p.pid == 1 {
		return nil, fmt.Errorf("graceful: restart refused: this process is PID 1, and a re-exec restart ends with it exiting, which would end the container; use process.mode: %s", RestartModeSupervisor)
	}
	live := p.liveAncestors()
	if alive := len(live) + 2; alive > p.cfg.MaxGenerations {
		err := fmt.Errorf("%w: generations %v are still draining and MaxGenerations is %d; retry once they have exited",
			ErrTooManyGenerations, live, p.cfg.MaxGenerations)
		p.logger.Error("restart refused; still serving", "reason", err.Error())
		return nil, err
	}
	return p.startNext(ctx, startOptions{
		generation: p.generation + 1,
		ancestors:  append(slices.Clone(live), p.pid),
		mode:       string(RestartModeReexec),
		reload:     true,
	})
}

// startOptions describe the process startNext starts.
type startOptions struct {
	generation int
	ancestors  []int
	mode       string
	reload     bool    // tell systemd a reload is under way, and when it ends
	reaper     *reaper // reaps the child when this process is PID 1
}

// startNext starts a process that inherits the listeners and waits until
// it is ready, has failed, or ctx ends. On failure the child is stopped
// and reaped, and the error says why, with the tail of the child's
// standard error.
func (p *Process) startNext(ctx context.Context, o startOptions) (child, error) {
	begin := time.Now()
	what := "the next generation"
	if o.mode == workerMode {
		what = "a worker"
	}
	p.logger.Info("starting "+what, "next_generation", o.generation, "binary", p.exe)
	if o.reload {
		p.notify("RELOADING=1\nMONOTONIC_USEC=" + monotonicUsec() + "\nSTATUS=starting generation " + fmt.Sprint(o.generation))
	}
	fail := func(err error) (child, error) {
		if o.reload {
			p.notifyReady("restart failed: " + err.Error())
		}
		return nil, err
	}
	// failEarly is a failure before any child started: it is logged here,
	// once, as the failures of a started child are below.
	failEarly := func(err error) (child, error) {
		if o.reload {
			p.logger.Error("restart failed; still serving", "next_generation", o.generation, "reason", err.Error())
		} else {
			p.logger.Error(what+" failed to start", "next_generation", o.generation, "reason", err.Error())
		}
		return fail(err)
	}

	files, err := p.dupListeners()
	if err != nil {
		return failEarly(err)
	}
	spec := childSpec{
		exe:           p.executable(),
		args:          p.args,
		dir:           p.dir,
		env:           p.sys.environ(),
		generation:    o.generation,
		ancestors:     o.ancestors,
		mode:          o.mode,
		listeners:     files,
		restartSignal: p.cfg.RestartSignal,
		rearm:         func() { p.sys.notifySignals(p.sigCh, p.cfg.RestartSignal) },
		reaper:        o.reaper,
	}
	c, err := p.sys.startChild(spec)
	for _, f := range files {
		_ = f.file.Close()
	}
	if err != nil {
		return failEarly(fmt.Errorf("graceful: start %s: %w", what, err))
	}

	timer := time.NewTimer(p.cfg.UpgradeTimeout)
	defer timer.Stop()
	var why string
	select {
	case <-c.ready():
		p.logger.Info(what+" is ready", "next_generation", o.generation, "child_pid", c.pid(),
			"took", time.Since(begin).Round(time.Millisecond))
		return c, nil
	case <-c.exited():
		why = "exited before it was ready: " + c.exitStatus()
	case <-timer.C:
		why = fmt.Sprintf("was not ready within the upgrade timeout of %s", p.cfg.UpgradeTimeout)
	case <-ctx.Done():
		why = fmt.Sprintf("was abandoned before it was ready: %v", context.Cause(ctx))
	}
	c.stop(p.childStopGrace())
	if o.reload {
		err = fmt.Errorf("graceful: restart failed: generation %d (pid %d) %s; this process (pid %d) keeps serving",
			o.generation, c.pid(), why, p.pid)
	} else {
		err = fmt.Errorf("graceful: %s (generation %d, pid %d) %s", what, o.generation, c.pid(), why)
	}
	attrs := []any{"next_generation", o.generation, "child_pid", c.pid(), "reason", why, "child_exit", c.exitStatus(),
		"took", time.Since(begin).Round(time.Millisecond)}
	if tail := c.stderrTail(); tail != "" {
		attrs = append(attrs, "child_stderr", tail)
	}
	if o.reload {
		p.logger.Error("restart failed; still serving", attrs...)
	} else {
		p.logger.Error(what+" failed to start", attrs...)
	}
	return fail(err)
}

// executable is the binary a restart starts: the configured or resolved
// path; when that file is gone (a `go run` binary cleaned up, say), the
// running binary itself.
func (p *Process) executable() string {
	if _, err := os.Stat(p.exe); err != nil {
		if self := selfExecutable(); self != "" {
			p.logger.Warn("restart: the binary is gone; starting the running binary again", "binary", p.exe, "error", err)
			return self
		}
	}
	return p.exe
}

// dupListeners duplicates every listener the process serves for the
// child. The caller closes the duplicates once the child has started.
func (p *Process) dupListeners() ([]namedFile, error) {
	p.mu.Lock()
	owned := slices.Clone(p.owned)
	p.mu.Unlock()
	files := make([]namedFile, 0, len(owned))
	for _, o := range owned {
		f, err := dupListener(o.ln)
		if err != nil {
			for _, done := range files {
				_ = done.file.Close()
			}
			return nil, fmt.Errorf("graceful: restart: pass listener %s: %w", o.name, err)
		}
		files = append(files, namedFile{name: o.name, file: f})
	}
	return files, nil
}

// notify sends a state to systemd, logging failures.
func (p *Process) notify(state string) {
	if err := p.sys.sdNotify(state); err != nil {
		p.logger.Warn("sd_notify failed", "state", state, "error", err)
	}
}

// notifyReady ends a reload that did not happen: systemd waits for
// READY=1 after RELOADING=1.
func (p *Process) notifyReady(status string) {
	p.notify("READY=1\nSTATUS=" + status)
}
