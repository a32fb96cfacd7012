package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Bounds of the back-off between attempts to replace a worker that died.
const (
	respawnMin = 100 * time.Millisecond
	respawnMax = 30 * time.Second
)

// worker is a worker process as its supervisor sees it.
type worker struct {
	c   child
	gen int
	// socks are the sockets the worker passed when it became ready: the
	// supervisor's own descriptors, handed to the next worker.
	socks []*socket
}

// workerEvent is a message from a worker, or its exit.
type workerEvent struct {
	w      *worker
	msg    linkMsg
	exited bool
}

// supervisor is the state of the first process in supervisor mode.
type supervisor struct {
	p      *Process
	reaper *reaper
	events chan workerEvent

	mu       sync.Mutex
	gen      int              // generation of the last worker started
	held     []*socket        // what the next worker gets
	active   *worker          // the worker that serves, nil while none does
	previous *worker          // the worker before it, in probation
	draining map[*worker]bool // old workers finishing their work
}

// supervise runs the process as a supervisor and returns its exit code.
// It holds the sockets and runs the program in worker processes (the same
// binary), so that its own PID never changes. The restart state machine
// is the one of re-exec mode (restart.go): a restart starts a new worker,
// waits until it is ready, then tells the old one to drain; a new worker
// that fails changes nothing. The old worker keeps its sockets for the
// probation, and serves again if the new one dies in it. A worker that
// dies otherwise is replaced, with back-off, for as long as the
// supervisor lives; meanwhile connections wait in the sockets' queues.
// SIGTERM or SIGINT are passed to the workers, which drain (after the
// shutdown delay); the supervisor exits when they have, with the serving
// worker's status.
func (p *Process) supervise(ctx context.Context) int {
	stopCh := make(chan os.Signal, 4)
	p.sys.notifySignals(stopCh, stopSignals...)
	defer p.sys.stopSignals(stopCh)
	sv := &supervisor{
		p:        p,
		events:   make(chan workerEvent, 64),
		draining: map[*worker]bool{},
		held:     p.socks.inherited,
	}
	p.socks.inherited = nil
	if p.pid == 1 {
		sv.reaper = newReaper(p.logger)
		defer sv.reaper.stop()
	}
	err := sv.loop(ctx, stopCh)
	sv.cleanUp()
	if err != nil {
		p.logger.Error("supervisor: exiting", "error", err)
		return 1
	}
	return 0
}

// startWorker starts the next worker and waits until it is ready; it is
// the restart state machine's start function.
func (sv *supervisor) startWorker(ctx context.Context) (child, error) {
	sv.mu.Lock()
	live := len(sv.draining)
	reload := sv.active != nil
	if reload {
		live++
	}
	if live+1 > sv.p.cfg.MaxGenerations {
		sv.mu.Unlock()
		return nil, sv.p.restartRefused(fmt.Errorf("%w: %d workers are alive and MaxGenerations is %d; retry once the draining ones have exited",
			ErrTooManyGenerations, live, sv.p.cfg.MaxGenerations))
	}
	sv.gen++
	o := startOptions{
		role:       roleNameWorker,
		generation: sv.gen,
		ancestors:  []int{sv.p.pid},
		sockets:    slices.Clone(sv.held),
		reaper:     sv.reaper,
		reload:     reload,
	}
	sv.mu.Unlock()
	return sv.p.startNext(ctx, o)
}

// watch forwards a worker's messages and its exit to the loop.
func (sv *supervisor) watch(w *worker) {
	go func() {
		for m := range w.c.messages() {
			sv.events <- workerEvent{w: w, msg: m}
		}
		<-w.c.exited()
		sv.events <- workerEvent{w: w, exited: true}
	}()
}

func (sv *supervisor) loop(ctx context.Context, stopCh <-chan os.Signal) error {
	p := sv.p
	r := newRestarter(sv.startWorker)
	var (
		respawn   <-chan time.Time
		backoff   = respawnMin
		probation <-chan time.Time
		probTimer *time.Timer
		first     = true
	)
	armRespawn := func(why string) {
		if respawn != nil || r.busy() {
			return
		}
		p.logger.Error("no worker serves; starting another", "reason", why, "retry_in", backoff)
		respawn = time.After(backoff)
		backoff = min(2*backoff, respawnMax)
	}
	endProbation := func() {
		if probTimer != nil {
			probTimer.Stop()
			probTimer, probation = nil, nil
		}
		if prev := sv.previous; prev != nil {
			sv.previous = nil
			_ = prev.c.send(linkMsg{Type: msgRelease})
		}
	}
	r.begin(nil) // the first worker

	for {
		select {
		case sig := <-p.sigCh:
			if r.signal() {
				p.logger.Info("restart requested", "signal", sig)
			} else {
				p.logger.Info("restart requested during a restart: it runs when this one ends", "signal", sig)
			}

		case res := <-r.results:
			res = r.finish(res)
			if res.err != nil {
				sv.sendTotals()
				if first {
					return fmt.Errorf("graceful: supervisor: the first worker did not start: %w", res.err)
				}
				if sv.active == nil {
					armRespawn("the new worker did not start")
				}
				if r.takeAgain() {
					r.signal()
				}
				continue
			}
			w := sv.adopt(res.c)
			p.storeSockets(w.socks)
			backoff = respawnMin
			sv.mu.Lock()
			old := sv.active
			sv.active, sv.held = w, w.socks
			if old != nil {
				endProbation() // a worker older than old is done for good
				sv.draining[old] = true
			}
			sv.mu.Unlock()
			if old != nil {
				p.totals.add(totalRestartsSucceeded, 1)
				if err := old.c.send(linkMsg{Type: msgDrain}); err != nil {
					p.logger.Warn("could not tell the old worker to drain; stopping it", "worker_pid", old.c.pid(), "error", err)
					old.c.signal(syscall.SIGTERM)
				} else if p.cfg.Probation > 0 {
					sv.previous = old
					probTimer = time.NewTimer(p.cfg.Probation)
					probation = probTimer.C
				} else {
					_ = old.c.send(linkMsg{Type: msgRelease})
				}
				p.logger.Info("handed over to the new worker", "worker_pid", w.c.pid(), "worker_generation", w.gen, "old_worker_pid", old.c.pid())
			}
			sv.sendTotals()
			if first {
				first = false
				if err := sv.becomeReady(w); err != nil {
					return errors.Join(err, sv.shutdown(stopCh, r, "cannot report ready"))
				}
			} else {
				p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d)", w.gen, w.c.pid()))
			}
			if r.takeAgain() {
				r.signal()
			}

		case ev := <-sv.events:
			if !ev.exited {
				sv.handleMessage(ev, r)
				continue
			}
			sv.mu.Lock()
			w := ev.w
			delete(sv.draining, w)
			wasActive := w == sv.active
			if wasActive {
				sv.active = nil
			}
			if w == sv.previous {
				sv.previous = nil
			}
			prev := sv.previous
			sv.mu.Unlock()
			if !wasActive {
				p.logger.Info("old worker exited", "worker_pid", w.c.pid(), "status", w.c.exitStatus())
				closeSockets(w.socks, sv.held)
				sv.sendTotals()
				continue
			}
			p.logger.Error("the serving worker exited", "worker_pid", w.c.pid(), "status", w.c.exitStatus())
			if prev != nil {
				// Rollback: the previous worker still has its sockets.
				if err := prev.c.send(linkMsg{Type: msgResume}); err == nil {
					if probTimer != nil {
						probTimer.Stop()
						probTimer, probation = nil, nil
					}
					sv.mu.Lock()
					sv.previous = nil
					delete(sv.draining, prev)
					sv.active, sv.held = prev, prev.socks
					sv.mu.Unlock()
					p.totals.add(totalRollbacks, 1)
					p.logger.Warn("rolled back: the previous worker serves again", "worker_pid", prev.c.pid(), "worker_generation", prev.gen)
					p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d, rolled back)", prev.gen, prev.c.pid()))
					closeSockets(w.socks, sv.held)
					sv.sendTotals()
					continue
				}
			}
			// The dead worker's sockets are what the next one gets.
			armRespawn("the serving worker exited: " + w.c.exitStatus())

		case <-probation:
			probTimer, probation = nil, nil
			endProbation()

		case <-respawn:
			respawn = nil
			if !r.busy() {
				r.begin(nil)
			}

		case sig := <-stopCh:
			return sv.shutdown(stopCh, r, sig.String())

		case <-ctx.Done():
			return sv.shutdown(stopCh, r, "context: "+context.Cause(ctx).Error())
		}
	}
}

// handleMessage handles a worker's message.
func (sv *supervisor) handleMessage(ev workerEvent, r *restarter) {
	p := sv.p
	switch ev.msg.Type {
	case msgTotals:
		p.totals.addAll(ev.msg.Totals)
		sv.sendTotals()
	case msgRestart:
		if ev.w != sv.active {
			_ = ev.w.c.send(linkMsg{Type: msgRestarted, Error: ErrNotRunning.Error() + ": this worker has been replaced"})
			return
		}
		p.logger.Info("restart requested", "by", "Restart", "worker_pid", ev.w.c.pid())
		req := restartRequest{ctx: context.Background(), result: make(chan error, 1)}
		r.request(req)
		go func() {
			m := linkMsg{Type: msgRestarted}
			if err := <-req.result; err != nil {
				m.Error = err.Error()
			}
			_ = ev.w.c.send(m)
		}()
	}
}

// sendTotals brings the serving worker's counters up to date.
func (sv *supervisor) sendTotals() {
	sv.mu.Lock()
	active := sv.active
	alive := len(sv.draining)
	if active != nil {
		alive++
	}
	sv.mu.Unlock()
	if active == nil {
		return
	}
	_ = active.c.send(linkMsg{Type: msgTotals, Totals: sv.p.totals.snapshot(), RestartNanos: sv.p.lastRestart.Load(), Alive: alive})
}

// adopt makes a worker of a ready child, taking the sockets it passed.
func (sv *supervisor) adopt(c child) *worker {
	sv.mu.Lock()
	w := &worker{c: c, gen: sv.gen}
	sv.mu.Unlock()
	names, fds := c.readySockets()
	for i, fd := range fds {
		addr, packet, err := inspectSocket(fd)
		if err != nil || i >= len(names) {
			sv.p.logger.Warn("the worker passed a socket that is not one", "worker_pid", c.pid(), "error", err)
			closeFd(fd)
			continue
		}
		w.socks = append(w.socks, &socket{name: names[i].Name, fd: fd, addr: addr, packet: packet, from: "worker", fdName: names[i].FdName})
	}
	sv.watch(w)
	return w
}

// becomeReady reports the supervisor ready once its first worker is.
func (sv *supervisor) becomeReady(w *worker) error {
	p := sv.p
	if p.cfg.PIDFile != "" {
		if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
	}
	p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d)", w.gen, w.c.pid()))
	p.logger.Info("ready", "worker_pid", w.c.pid())
	return nil
}

// shutdown stops the service: a restart under way is abandoned (or, if
// its worker became ready meanwhile, that worker is the one stopped), the
// workers drain, and the supervisor returns once they have all exited.
func (sv *supervisor) shutdown(stopCh <-chan os.Signal, r *restarter, cause string) error {
	p := sv.p
	p.stopping.Store(true)
	p.logger.Info("shutting down", "cause", cause)
	p.notify("STOPPING=1")
	if res, ok := r.abort(errors.New("the supervisor is shutting down")); ok && res.err == nil {
		w := sv.adopt(res.c)
		sv.mu.Lock()
		if sv.active != nil {
			sv.draining[sv.active] = true
			_ = sv.active.c.send(linkMsg{Type: msgDrain})
			_ = sv.active.c.send(linkMsg{Type: msgRelease})
		}
		sv.active = w
		sv.mu.Unlock()
	}
	// The workers perform the shutdown delay and the drain, on their own
	// descriptors of the sockets; once they close them a new connection
	// is refused, not queued for nobody. A further stop signal is passed
	// on and cuts the delay short.
	sv.mu.Lock()
	closeSockets(sv.held, nil)
	workers := []*worker{}
	if sv.active != nil {
		workers = append(workers, sv.active)
	}
	for w := range sv.draining {
		workers = append(workers, w)
	}
	active := sv.active
	sv.mu.Unlock()
	for _, w := range workers {
		// The serving worker stops as the last generation (it serves
		// what is queued on the sockets before it closes them); a
		// worker the link cannot reach gets SIGTERM.
		if err := w.c.send(linkMsg{Type: msgStop}); err != nil {
			w.c.signal(syscall.SIGTERM)
		}
	}
	var status string
	for len(workers) > 0 {
		select {
		case ev := <-sv.events:
			if !ev.exited {
				if ev.msg.Type == msgTotals {
					p.totals.addAll(ev.msg.Totals)
				}
				continue
			}
			workers = slices.DeleteFunc(workers, func(w *worker) bool { return w == ev.w })
			if ev.w == active {
				status = ev.w.c.exitStatus()
			}
			if !slices.Equal(ev.w.socks, sv.held) {
				closeSockets(ev.w.socks, nil)
			}
		case sig := <-stopCh:
			if active != nil {
				p.logger.Info("passing the signal on to the worker", "signal", sig, "worker_pid", active.c.pid())
				active.c.signal(sig)
			}
		}
	}
	p.logger.Info("stopped", "worker_status", status)
	if status != "" && status != "exit status 0" {
		return fmt.Errorf("graceful: supervisor: the worker ended with %s", status)
	}
	return nil
}

// cleanUp removes the PID file and the unix socket files, and closes the
// sockets.
func (sv *supervisor) cleanUp() {
	p := sv.p
	if p.cfg.PIDFile != "" {
		if err := removePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			p.logger.Warn("remove PID file", "error", err)
		}
	}
	sv.mu.Lock()
	held := sv.held
	sv.held = nil
	sv.mu.Unlock()
	for _, s := range held {
		if p.fdStoreActive() {
			break // systemd keeps the sockets: their files stay
		}
		removeSocketFile(s, p.logger)
	}
	closeSockets(held, nil)
}

// closeSockets closes the sockets in socks that are not in keep.
func closeSockets(socks, keep []*socket) {
	for _, s := range socks {
		if !slices.Contains(keep, s) {
			s.close()
		}
	}
}
