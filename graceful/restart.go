package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// This file is the restart state machine, one for both process modes:
// start the next generation (a successor in re-exec mode, a worker in
// supervisor mode), wait until it is ready, and report the outcome; on
// failure the new process is stopped and reaped, the reason logged, and
// the serving generation goes on as if nothing happened. What a success
// leads to (the serving process drains, or a supervisor tells the old
// worker to) is the caller's; so is the probation after it, in which a
// successor that dies is rolled back from (see rollback in process_run.go
// and supervisor.go).

// notReadyStopGrace is how long a new process that was given up on (not
// ready in time, or abandoned) gets between SIGTERM and SIGKILL. It never
// served, so it has nothing to drain; SIGKILL also ends a stopped one.
const notReadyStopGrace = 2 * time.Second

// restartRequest is a call to Restart waiting for its outcome.
type restartRequest struct {
	ctx    context.Context
	result chan error
}

// attemptResult is the outcome of one restart.
type attemptResult struct {
	c   child
	err error
}

// restarter runs restarts one at a time. A restart signal that arrives
// during a restart is remembered and runs after it; a call to Restart
// during a restart is refused with ErrRestartInProgress. Its methods are
// called from one loop only.
type restarter struct {
	// start starts the next generation and waits until it is ready or
	// has failed (see Process.startNext).
	start func(ctx context.Context) (child, error)

	cur     *attempt
	again   bool // a restart signal came during the restart under way
	results chan attemptResult
}

type attempt struct {
	cancel context.CancelFunc
	req    *restartRequest
}

func newRestarter(start func(ctx context.Context) (child, error)) *restarter {
	return &restarter{start: start, results: make(chan attemptResult, 1)}
}

// busy reports whether a restart is under way.
func (r *restarter) busy() bool { return r.cur != nil }

// signal handles a restart signal: it starts a restart, or remembers it
// for when the one under way is over. It reports whether it started one.
func (r *restarter) signal() bool {
	if r.cur != nil {
		r.again = true
		return false
	}
	r.begin(nil)
	return true
}

// request handles a call to Restart.
func (r *restarter) request(req restartRequest) {
	if r.cur != nil {
		req.result <- ErrRestartInProgress
		return
	}
	r.begin(&req)
}

func (r *restarter) begin(req *restartRequest) {
	ctx := context.Background()
	if req != nil {
		ctx = req.ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cur = &attempt{cancel: cancel, req: req}
	go func() {
		c, err := r.start(ctx)
		r.results <- attemptResult{c: c, err: err}
	}()
}

// finish takes the outcome of the restart under way (from results) and
// answers the call that asked for it, if one did.
func (r *restarter) finish(res attemptResult) attemptResult {
	a := r.cur
	r.cur = nil
	a.cancel()
	if a.req != nil {
		a.req.result <- res.err
	}
	return res
}

// abort gives up on the restart under way, if any, and returns its
// outcome: a successor that became ready meanwhile serves, so the caller
// must hand over to it rather than clean up as the last one.
func (r *restarter) abort(why error) (attemptResult, bool) {
	if r.cur == nil {
		return attemptResult{}, false
	}
	r.cur.cancel()
	res := <-r.results
	if res.err != nil {
		res.err = fmt.Errorf("%w: %w", why, res.err)
	}
	r.again = false
	return r.finish(res), true
}

// takeAgain reports whether a restart signal came during the restart that
// just ended, and forgets it.
func (r *restarter) takeAgain() bool {
	a := r.again
	r.again = false
	return a
}

// startOptions describe the process startNext starts.
type startOptions struct {
	role       string // roleNameProcess or roleNameWorker
	generation int
	ancestors  []int
	sockets    []*socket
	reaper     *reaper
	// reload: tell systemd a reload is under way, and when it ends.
	reload bool
}

// startNext starts a process that inherits the sockets and waits until it
// is ready, has failed, or ctx ends. On failure the child is stopped and
// reaped, the reason is logged once at ERROR, with the tail of the child's
// standard error, and the error says why.
func (p *Process) startNext(ctx context.Context, o startOptions) (child, error) {
	begin := time.Now()
	what := fmt.Sprintf("generation %d", o.generation)
	if o.role == roleNameWorker {
		what = fmt.Sprintf("worker %d", o.generation)
	}
	exe := p.executable()
	p.logger.Info("restart: starting "+what, "next_generation", o.generation, "binary", exe, "sockets", len(o.sockets))
	if o.reload {
		p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s\nSTATUS=starting %s", monotonicUsec(), what))
	}
	fail := func(why string, c child, err error) (child, error) {
		attrs := []any{"next_generation", o.generation, "reason", why, "took", time.Since(begin).Round(time.Millisecond)}
		if c != nil {
			attrs = append(attrs, "child_pid", c.pid(), "child_exit", c.exitStatus())
			if tail := c.stderrTail(); tail != "" {
				attrs = append(attrs, "child_stderr", tail)
			}
		}
		p.totals.add(totalRestartsFailed, 1)
		p.logger.Error("restart failed; still serving", attrs...)
		if o.reload {
			p.notify("READY=1\nSTATUS=restart failed: " + why + "; still serving")
		}
		if c != nil {
			return nil, fmt.Errorf("graceful: restart failed: %s (pid %d) %s; this process (pid %d) keeps serving", what, c.pid(), why, p.pid)
		}
		return nil, fmt.Errorf("graceful: restart failed: %s could not start; this process (pid %d) keeps serving: %w", what, p.pid, err)
	}

	spec := childSpec{
		exe:  exe,
		args: p.args,
		dir:  p.dir,
		env:  p.sys.environ(),
		handover: handover{
			Role:       o.role,
			Generation: o.generation,
			Ancestors:  o.ancestors,
			Totals:     p.totals.snapshot(),
		},
		sockets: o.sockets,
		reaper:  o.reaper,
	}
	c, err := p.sys.startChild(spec)
	if err != nil {
		return fail(err.Error(), nil, err)
	}

	timer := time.NewTimer(p.cfg.UpgradeTimeout)
	defer timer.Stop()
	var why string
	select {
	case <-c.ready():
	case <-c.exited():
		why = "exited before it was ready: " + c.exitStatus()
	case <-timer.C:
		why = fmt.Sprintf("was not ready within the upgrade timeout of %s", p.cfg.UpgradeTimeout)
	case <-ctx.Done():
		why = fmt.Sprintf("was abandoned before it was ready: %v", context.Cause(ctx))
	}
	if why != "" {
		select {
		case <-c.ready():
			why = "" // it became ready at the very moment: it serves
		default:
		}
	}
	if why == "" {
		took := time.Since(begin)
		if o.reload {
			// A restart (not a supervisor's first worker or a respawn).
			p.lastRestart.Store(int64(took))
		}
		p.logger.Info("restart: "+what+" is ready", "next_generation", o.generation, "child_pid", c.pid(),
			"took", took.Round(time.Millisecond))
		return c, nil
	}
	c.stop(notReadyStopGrace)
	return fail(why, c, nil)
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

// notify sends a state to systemd, logging failures.
func (p *Process) notify(state string, fds ...int) {
	if err := p.sys.sdNotify(state, fds...); err != nil {
		p.logger.Warn("sd_notify failed", "state", firstLine(state), "error", err)
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// errHandedOver: a Restart call reached a generation that has handed over.
var errHandedOver = errors.New("graceful: this generation has handed over to its successor")
