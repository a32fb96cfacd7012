package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Bounds of the back-off between attempts to replace a worker that died.
const (
	respawnMin = 100 * time.Millisecond
	respawnMax = 30 * time.Second
)

// supervisor is the state of a process in supervisor mode.
type supervisor struct {
	p        *Process
	reaper   *reaper
	gen      int            // generation of the last worker started
	active   child          // the worker that serves, nil while none does
	draining map[child]bool // old workers finishing their requests
	exits    chan child     // workers (active or draining) that exited
}

// supervise runs the process as a supervisor: it keeps the listening
// sockets and runs the servers in worker processes (the same binary), so
// that its own PID never changes. A restart starts a new worker, waits
// until it is ready, then tells the old one to drain; a new worker that
// fails changes nothing. A worker that dies on its own is replaced, with
// back-off; meanwhile connections wait in the sockets' queues. SIGTERM or
// SIGINT are passed to the worker, which drains (after the shutdown
// delay); the supervisor exits when it has, with its status.
func (p *Process) supervise(ctx context.Context) error {
	stopCh := make(chan os.Signal, 4)
	p.sys.notifySignals(stopCh, stopSignals...)
	defer p.sys.stopSignals(stopCh)
	sv := &supervisor{p: p, draining: map[child]bool{}, exits: make(chan child, 16)}
	if p.pid == 1 {
		sv.reaper = newReaper(p.logger)
		defer sv.reaper.stop()
	}
	p.dropEarlyRestartSignals()
	p.closeUnclaimed()

	o, err := sv.next(false)
	first, err := sv.start(ctx, o, err)
	if err != nil {
		p.closeListeners()
		p.cleanUpFinal()
		return fmt.Errorf("graceful: supervisor: the first worker did not start: %w", err)
	}
	sv.activate(first)
	if err := p.becomeReady(); err != nil {
		return errors.Join(err, sv.shutdown(stopCh, nil, "cannot report ready"))
	}
	return sv.loop(ctx, stopCh)
}

// next describes the next worker, or says why there may not be one yet.
// It runs on the supervisor's loop, which owns the worker set.
func (sv *supervisor) next(reload bool) (startOptions, error) {
	live := len(sv.draining)
	if sv.active != nil {
		live++
	}
	if live+1 > sv.p.cfg.MaxGenerations {
		return startOptions{}, fmt.Errorf("%w: %d workers are alive and MaxGenerations is %d; retry once the draining ones have exited",
			ErrTooManyGenerations, live, sv.p.cfg.MaxGenerations)
	}
	sv.gen++
	return startOptions{
		generation: sv.gen,
		ancestors:  []int{sv.p.pid},
		mode:       workerMode,
		reload:     reload,
		reaper:     sv.reaper,
	}, nil
}

// start starts a worker described by next and waits until it is ready.
func (sv *supervisor) start(ctx context.Context, o startOptions, err error) (child, error) {
	if err != nil {
		return nil, err
	}
	return sv.p.startNext(ctx, o)
}

// activate makes c the serving worker and watches for its exit.
func (sv *supervisor) activate(c child) {
	sv.active = c
	go func() {
		<-c.exited()
		sv.exits <- c
	}()
}

// workerStart is the outcome of starting a new worker.
type workerStart struct {
	c   child
	err error
	req *restartRequest // nil when a signal or a respawn asked for it
}

// upgradeState is the restart under way, if any.
type upgradeState struct {
	running bool
	cancel  context.CancelFunc
	done    chan workerStart
}

// takeOver makes the ready worker c the serving one and tells the
// previous one, if any, to drain (or, failing that, to stop).
func (sv *supervisor) takeOver(c child) {
	if old := sv.active; old != nil {
		sv.draining[old] = true
		if err := old.requestDrain(); err != nil {
			sv.p.logger.Warn("could not ask the old worker to drain; stopping it", "worker_pid", old.pid(), "error", err)
			old.signal(syscall.SIGTERM)
		}
	}
	sv.activate(c)
}

func (sv *supervisor) loop(ctx context.Context, stopCh <-chan os.Signal) error {
	p := sv.p
	up := &upgradeState{done: make(chan workerStart, 1), cancel: func() {}}
	var (
		respawn <-chan time.Time
		backoff = respawnMin
	)
	startUpgrade := func(parent context.Context, req *restartRequest) {
		up.running = true
		var upCtx context.Context
		upCtx, up.cancel = context.WithCancel(parent)
		o, err := sv.next(true)
		go func() {
			c, err := sv.start(upCtx, o, err)
			up.done <- workerStart{c, err, req}
		}()
	}
	// finish takes the outcome of a new worker's start.
	finish := func(r workerStart) {
		up.running = false
		up.cancel()
		if r.req != nil {
			r.req.result <- r.err
		}
		if r.err != nil {
			return
		}
		sv.takeOver(r.c)
		respawn, backoff = nil, respawnMin
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker generation %d, pid %d)", sv.gen, r.c.pid()))
	}

	for {
		select {
		case sig := <-p.sigCh:
			if up.running {
				p.logger.Info("restart signal coalesced into the restart under way", "signal", sig)
				continue
			}
			p.logger.Info("restart requested", "signal", sig)
			startUpgrade(context.Background(), nil)

		case req := <-p.restartReq:
			if up.running {
				req.result <- ErrRestartInProgress
				continue
			}
			startUpgrade(req.ctx, &req)

		case r := <-up.done:
			finish(r)

		case c := <-sv.exits:
			if _, ok := sv.draining[c]; ok {
				delete(sv.draining, c)
				p.logger.Info("old worker drained and exited", "worker_pid", c.pid(), "status", c.exitStatus())
				continue
			}
			if c != sv.active {
				continue
			}
			sv.active = nil
			p.logger.Error("the worker exited on its own; starting another", "worker_pid", c.pid(), "status", c.exitStatus(), "retry_in", backoff)
			if !up.running {
				respawn = time.After(backoff)
			}

		case <-respawn:
			respawn = nil
			backoff = min(2*backoff, respawnMax)
			startUpgrade(context.Background(), nil)

		case sig := <-stopCh:
			return sv.shutdown(stopCh, up, sig.String())

		case <-ctx.Done():
			return sv.shutdown(stopCh, up, "context: "+context.Cause(ctx).Error())
		}
	}
}

// shutdown stops the service: a restart under way is abandoned (or, if
// its worker became ready meanwhile, that worker is the one stopped), the
// serving worker drains, and the supervisor exits with its status.
func (sv *supervisor) shutdown(stopCh <-chan os.Signal, up *upgradeState, cause string) error {
	p := sv.p
	p.stopping.Store(true)
	p.logger.Info("shutting down", "cause", cause)
	p.notify("STOPPING=1")
	if up != nil && up.running {
		up.cancel()
		r := <-up.done
		up.running = false
		if r.err == nil {
			sv.takeOver(r.c)
		}
		if r.req != nil {
			if r.err == nil {
				r.req.result <- nil
			} else {
				r.req.result <- fmt.Errorf("the process is shutting down: %w", r.err)
			}
		}
	}
	// The worker performs the shutdown delay and the drain; a further
	// stop signal is passed on and cuts its delay short.
	if sv.active != nil {
		sv.active.signal(syscall.SIGTERM)
	}
	var status string
	for sv.active != nil || len(sv.draining) > 0 {
		select {
		case c := <-sv.exits:
			if c == sv.active {
				status = c.exitStatus()
				sv.active = nil
			} else {
				delete(sv.draining, c)
			}
		case sig := <-stopCh:
			if sv.active != nil {
				p.logger.Info("passing the signal on to the worker", "signal", sig, "worker_pid", sv.active.pid())
				sv.active.signal(sig)
			}
		}
	}
	p.closeListeners()
	p.cleanUpFinal()
	p.logger.Info("stopped", "worker_status", status)
	if status != "" && status != "exit status 0" {
		return fmt.Errorf("graceful: supervisor: the worker ended with %s", status)
	}
	return nil
}
