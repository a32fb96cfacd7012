package graceful

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Run serves every server made with [Process.NewServer] and every service
// given to [Process.Add], reports the process ready, and then handles its
// lifecycle until this generation is done:
//
//   - the restart signal (or [Process.Restart]) starts the next
//     generation; once it is ready, this process stops accepting and
//     drains. A failed restart changes nothing. After the drain the
//     process waits out [ProcessConfig.Probation] (unless the new
//     generation hands over or stops first): if the new generation dies
//     in that time, this one serves again ("rolled back") and Run goes
//     on; otherwise Run returns nil.
//   - SIGTERM, SIGINT or the end of ctx start a graceful shutdown: the
//     readiness endpoint turns 503, the process keeps serving for
//     [ProcessConfig.ShutdownDelay] (a second signal skips the rest), then
//     everything drains and Run returns nil.
//
// In a worker (supervisor mode), the supervisor decides restarts: it
// tells the worker to drain, or to serve again.
//
// Everything the program does before Run counts as start-up: a new
// generation that fails before Run never replaces the old one. Run returns
// an error when a server or service fails or the process cannot report
// ready.
func (p *Process) Run(ctx context.Context) error {
	units, err := p.beginRun()
	if err != nil {
		return err
	}
	defer p.finish()

	stopCh := make(chan os.Signal, 4)
	p.sys.notifySignals(stopCh, stopSignals...)
	defer p.sys.stopSignals(stopCh)

	p.dropEarlyRestartSignals()
	set := p.serve(units)
	if err := p.becomeReady(); err != nil {
		p.markStopping()
		// The parent (or supervisor) still serves these sockets.
		set.drain(func(*unit) context.Context { return withHandingOver(context.Background()) }, p.logger)
		p.closeSockets()
		return err
	}
	return p.loop(ctx, stopCh, set)
}

// dropEarlyRestartSignals discards restart signals that arrived while the
// process was starting: it was not ready to restart, and it must not
// restart as soon as it is.
func (p *Process) dropEarlyRestartSignals() {
	for {
		select {
		case sig := <-p.sigCh:
			p.logger.Warn("restart signal received while the process was starting: ignored", "signal", sig)
		default:
			return
		}
	}
}

// beginRun checks that Run may start and returns the units to serve.
func (p *Process) beginRun() ([]*unit, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.done {
		return nil, errors.New("graceful: Process.Run called twice")
	}
	// A server closed before Run (a caller that gave up on it half-way)
	// is not served, and its socket is not handed on.
	var units []*unit
	for _, u := range p.units {
		if u.srv != nil && u.srv.isStopping() {
			p.socks.drop(u.sock)
			continue
		}
		units = append(units, u)
	}
	p.units = units
	if len(units) == 0 {
		return nil, errors.New("graceful: Process.Run: nothing to serve; create servers with Process.NewServer or add services with Process.Add first")
	}
	p.running = true
	// Sockets inherited and not asked for are not this generation's: an
	// address the configuration no longer names is closed here, not
	// handed on.
	for _, s := range p.socks.inherited {
		p.logger.Info("closing an inherited socket nothing asked for", "name", s.name, "bound", formatAddr(s.addr), "from", s.from)
		p.unstoreSocket(s)
		s.close()
	}
	p.socks.inherited = nil
	return slices.Clone(units), nil
}

// serveSet is one round of serving the units: from Run, or from a
// rollback.
type serveSet struct {
	units []*unit
	svcs  []Service
	errs  chan error
	wg    sync.WaitGroup
}

// serve starts serving every unit.
func (p *Process) serve(units []*unit) *serveSet {
	set := &serveSet{units: units, errs: make(chan error, len(units))}
	for _, u := range units {
		svc := u.svc
		set.svcs = append(set.svcs, svc)
		set.wg.Go(func() {
			err := svc.Serve(context.Background())
			if err != nil && !errors.Is(err, ErrServerClosed) {
				set.errs <- err
			}
		})
	}
	return set
}

// drain shuts every service of the set down at once and waits for all of
// them, and for their Serve calls to return. ctxOf gives each unit's
// Shutdown its context, which says whether it hands over (see
// HandingOver).
func (s *serveSet) drain(ctxOf func(*unit) context.Context, logger interface {
	Warn(msg string, args ...any)
}) {
	var wg sync.WaitGroup
	for i, svc := range s.svcs {
		u := s.units[i]
		wg.Go(func() {
			if err := svc.Shutdown(ctxOf(u)); err != nil {
				logger.Warn("shutdown cut work in progress", "service", describeService(svc), "error", err)
			}
		})
	}
	wg.Wait()
	s.wg.Wait()
}

func describeService(svc Service) string {
	if s, ok := svc.(*Server); ok {
		return s.describe()
	}
	return fmt.Sprintf("%T", svc)
}

// loop is the lifecycle of a serving generation.
func (p *Process) loop(ctx context.Context, stopCh <-chan os.Signal, set *serveSet) error {
	r := newRestarter(p.startSuccessor)
	var pending *restartRequest // a worker's Restart, waiting for its supervisor
	for {
		select {
		case sig := <-p.sigCh:
			switch {
			case p.role == RoleWorker:
				p.logger.Info("restart signal ignored: the supervisor restarts workers; signal it instead", "signal", sig, "supervisor_pid", p.ancestors[0])
			case r.signal():
				p.logger.Info("restart requested", "signal", sig)
			default:
				p.logger.Info("restart requested during a restart: it runs when this one ends", "signal", sig)
			}

		case req := <-p.requests:
			switch {
			case p.role != RoleWorker:
				if !r.busy() {
					p.logger.Info("restart requested", "by", "Restart")
				}
				r.request(req)
			case pending != nil:
				req.result <- ErrRestartInProgress
			default:
				if err := p.parent.send(linkMsg{Type: msgRestart, PID: p.pid}); err != nil {
					req.result <- fmt.Errorf("graceful: ask the supervisor to restart: %w", err)
					continue
				}
				pending = &req
			}

		case res := <-r.results:
			res = r.finish(res)
			if res.err == nil {
				if r.takeAgain() {
					p.logger.Info("restart requested during the restart: passed on to the new generation", "child_pid", res.c.pid())
					res.c.signal(p.cfg.RestartSignal)
				}
				next, err := p.handOver(stopCh, set, res.c)
				if next == nil {
					return err
				}
				set = next
				continue
			}
			if r.takeAgain() {
				p.logger.Info("restart requested during the failed one: starting it")
				r.signal()
			}

		case m, ok := <-p.parentMsgs:
			if !ok {
				p.parentMsgs = nil
				if p.role == RoleWorker {
					p.logger.Warn("the supervisor is gone; shutting down")
					return p.shutdown(nil, set, "supervisor gone")
				}
				continue
			}
			switch m.Type {
			case msgTotals:
				p.takeTotals(m)
			case msgRestarted:
				if pending != nil {
					var err error
					if m.Error != "" {
						err = errors.New(m.Error)
					}
					pending.result <- err
					pending = nil
				}
			case msgDrain:
				if pending != nil {
					pending.result <- nil
					pending = nil
				}
				next, err := p.handOver(stopCh, set, nil)
				if next == nil {
					return err
				}
				set = next
			case msgStop:
				p.finalStop.Store(true)
				return p.shutdown(stopCh, set, "the supervisor stops")
			}

		case err := <-set.errs:
			if res, ok := r.abort(errors.New("a service failed")); ok && res.err == nil {
				p.logger.Error("a service failed during a restart; the new generation serves", "error", err)
				_, _ = p.handOver(stopCh, set, res.c)
				return err
			}
			p.logger.Error("a service failed; shutting the process down", "error", err)
			return errors.Join(err, p.shutdown(nil, set, "a service failed"))

		case sig := <-stopCh:
			if res, ok := r.abort(errors.New("the process is shutting down")); ok && res.err == nil {
				next, err := p.handOver(stopCh, set, res.c)
				if next == nil {
					return err
				}
				set = next
				continue
			}
			return p.shutdown(stopCh, set, sig.String())

		case <-ctx.Done():
			if res, ok := r.abort(errors.New("the process is shutting down")); ok && res.err == nil {
				_, err := p.handOver(nil, set, res.c)
				return err
			}
			return p.shutdown(nil, set, "context: "+context.Cause(ctx).Error())
		}
	}
}

// startSuccessor starts the next generation in re-exec mode.
func (p *Process) startSuccessor(ctx context.Context) (child, error) {
	if p.pid == 1 {
		return nil, p.restartRefused(fmt.Errorf("graceful: restart refused: this process is PID 1, and a re-exec restart ends with it exiting, which would end the container; use process.mode: %s", RestartModeSupervisor))
	}
	live := p.liveAncestors()
	if len(live)+2 > p.cfg.MaxGenerations {
		return nil, p.restartRefused(fmt.Errorf("%w: generations %v are still draining and MaxGenerations is %d; retry once they have exited",
			ErrTooManyGenerations, live, p.cfg.MaxGenerations))
	}
	p.mu.Lock()
	socks := slices.Clone(p.socks.owned)
	p.mu.Unlock()
	return p.startNext(ctx, startOptions{
		role:       roleNameProcess,
		generation: p.generation + 1,
		ancestors:  append(live, p.pid),
		sockets:    socks,
		reload:     true,
	})
}

// restartRefused logs and counts a restart that was refused before any
// process started, and tells systemd the reload it asked for is over.
func (p *Process) restartRefused(err error) error {
	p.totals.add(totalRestartsFailed, 1)
	p.logger.Error("restart failed; still serving", "reason", err.Error())
	if p.role != RoleWorker {
		p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s", monotonicUsec()))
		p.notify("READY=1\nSTATUS=restart refused: " + err.Error() + "; still serving")
	}
	return err
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

// handOver drains this generation once its successor is ready (succ, in
// re-exec mode) or its supervisor says so (a worker, succ nil), and keeps
// the sockets for the probation. It returns the new serving set if the
// generation rolled back and serves again, else nil once the generation
// is done.
func (p *Process) handOver(stopCh <-chan os.Signal, set *serveSet, succ child) (*serveSet, error) {
	p.markStopping()
	begin := time.Now()
	if succ != nil {
		if p.parent != nil {
			// This generation's own parent may be waiting out a
			// probation on it: it is over.
			_ = p.parent.send(linkMsg{Type: msgReleased, PID: p.pid})
		}
		p.logger.Info("handed over; draining", "to_pid", succ.pid())
		// The successor's counters go on from this generation's.
		_ = succ.send(linkMsg{Type: msgTotals, Totals: p.totals.snapshot(), RestartNanos: p.lastRestart.Load()})
	} else {
		p.logger.Info("told to drain by the supervisor; draining")
	}
	drained := make(chan struct{})
	go func() {
		set.drain(func(*unit) context.Context { return withHandingOver(context.Background()) }, p.logger)
		p.countDrains(set)
		close(drained)
	}()

	// The probation: until it ends, a successor that dies is rolled back
	// from. In a worker the supervisor keeps the time.
	inProbation := p.role == RoleWorker || (p.cfg.Probation > 0 && p.canResume())
	var timeout <-chan time.Time
	var succMsgs <-chan linkMsg
	var succExited <-chan struct{}
	if succ != nil {
		succMsgs, succExited = succ.messages(), succ.exited()
		if inProbation {
			t := time.NewTimer(p.cfg.Probation)
			defer t.Stop()
			timeout = t.C
		}
	}
	isDrained, stopAsked := false, false
	drainedCh := (<-chan struct{})(drained)
	for !isDrained || inProbation {
		select {
		case <-drainedCh:
			drainedCh = nil
			isDrained = true
			p.logger.Info("drained", "took", time.Since(begin).Round(time.Millisecond), "probation", inProbation)
		case <-timeout:
			inProbation = false
		case m, ok := <-succMsgs:
			if !ok {
				succMsgs = nil
				continue
			}
			if m.Type == msgReleased {
				inProbation = false
			}
		case <-succExited:
			succExited = nil
			if inProbation && !stopAsked {
				p.logger.Error("the new generation died within the probation; rolling back",
					"child_pid", succ.pid(), "child_exit", succ.exitStatus(), "after", time.Since(begin).Round(time.Millisecond))
				return p.rollBack(drained)
			}
		case m, ok := <-p.parentMsgs:
			if !ok {
				p.parentMsgs = nil
				if p.role == RoleWorker {
					inProbation = false // the supervisor is gone
				}
				continue
			}
			switch m.Type {
			case msgTotals:
				p.takeTotals(m)
			case msgRelease:
				inProbation = false
			case msgStop:
				stopAsked, inProbation = true, false
			case msgResume:
				if p.role == RoleWorker && !stopAsked {
					p.logger.Error("the supervisor says the new worker died within the probation; rolling back")
					return p.rollBack(drained)
				}
			}
		case sig := <-stopCh:
			// A stop while draining: go on draining, and never serve again.
			stopAsked, inProbation = true, false
			p.logger.Info("stop requested while draining: no rollback", "signal", sig)
		case sig := <-p.sigCh:
			p.logger.Info("restart signal ignored: this generation has handed over", "signal", sig)
		case req := <-p.requests:
			req.result <- fmt.Errorf("%w: %w", ErrNotRunning, errHandedOver)
		}
	}
	p.closeSockets()
	if succ != nil {
		// The successor's counters go on from this generation's last.
		_ = succ.send(linkMsg{Type: msgTotals, Totals: p.totals.snapshot()})
	}
	p.logger.Info("handed over and drained; exiting", "took", time.Since(begin).Round(time.Millisecond))
	return nil, nil
}

// takeTotals takes the counters the parent or supervisor sent.
func (p *Process) takeTotals(m linkMsg) {
	p.totals.merge(m.Totals)
	if m.RestartNanos > 0 {
		p.lastRestart.Store(m.RestartNanos)
	}
	if m.Alive > 0 {
		p.alive.Store(int64(m.Alive))
	}
}

// canResume reports whether every unit can serve again after its
// shutdown, which a rollback needs.
func (p *Process) canResume() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.units {
		if u.sock != nil {
			continue // made by NewServer: rebuilt
		}
		if _, ok := u.svc.(ResumableService); !ok {
			return false
		}
	}
	return true
}

// rollBack makes this generation serve again after its successor died.
// The drain of what was in flight before goes on (drained is closed when
// it is over); the new round serves fresh servers on the same sockets.
func (p *Process) rollBack(drained <-chan struct{}) (*serveSet, error) {
	p.mu.Lock()
	units := slices.Clone(p.units)
	var errs []error
	for _, u := range units {
		if u.sock != nil {
			if _, err := u.newServer(u.srv.tlsConfig); err != nil {
				errs = append(errs, err)
			}
		}
	}
	p.mu.Unlock()
	// Resume runs without p.mu: a service takes its fresh listeners from
	// Process.Listen there.
	for _, u := range units {
		if u.sock == nil {
			if err := u.svc.(ResumableService).Resume(); err != nil {
				errs = append(errs, fmt.Errorf("resume %s: %w", describeService(u.svc), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		p.logger.Error("rollback failed: shutting down", "error", err)
		<-drained
		p.closeSockets()
		return nil, err
	}
	p.totals.add(totalRollbacks, 1)
	p.stopping.Store(false)
	if p.role != RoleWorker {
		if p.cfg.PIDFile != "" {
			if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
				p.logger.Warn("rolled back, but the PID file could not be written", "error", err)
			}
		}
		p.notify(fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=serving (generation %d, rolled back)", p.pid, p.generation))
	}
	set := p.serve(units) // the old round finishes its drain on its own
	p.logger.Warn("rolled back: serving again", "generation", p.generation)
	return set, nil
}

// markStopping turns readiness to 503 and tells the services that care.
func (p *Process) markStopping() {
	if p.stopping.Swap(true) {
		return
	}
	p.mu.Lock()
	units := slices.Clone(p.units)
	p.mu.Unlock()
	for _, u := range units {
		if s, ok := u.svc.(StoppingService); ok {
			s.Stopping()
		}
	}
}

// becomeReady tells whoever waits that this process serves: the parent
// generation or the supervisor, systemd, the PID file.
func (p *Process) becomeReady() error {
	if p.role == RoleWorker {
		// The supervisor is the service for the outside world: the PID
		// file and systemd hear of it, not of its workers. It gets the
		// worker's sockets, to hand to the next worker.
		p.mu.Lock()
		var names []handoverSocket
		var fds []int
		for _, s := range p.socks.owned {
			if s.fd >= 0 {
				names = append(names, handoverSocket{Name: s.name, FdName: s.fdName})
				fds = append(fds, s.fd)
			}
		}
		p.mu.Unlock()
		if err := p.parent.send(linkMsg{Type: msgReady, PID: p.pid, Sockets: names}, fds...); err != nil {
			return fmt.Errorf("graceful: report ready to the supervisor: %w", err)
		}
		p.stderr.switchAway()
		p.logger.Info("ready", "serving", p.unitNames())
		return nil
	}
	if p.cfg.PIDFile != "" {
		if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
	}
	p.mu.Lock()
	owned := slices.Clone(p.socks.owned)
	p.mu.Unlock()
	p.storeSockets(owned)
	if p.parent != nil {
		// systemd first: once the parent hears we are ready it drains,
		// and systemd must already follow the new main PID.
		p.notify(fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=serving (generation %d)", p.pid, p.generation))
		if err := p.parent.send(linkMsg{Type: msgReady, PID: p.pid}); err != nil {
			// The parent died during the handover: this process goes
			// on alone.
			p.logger.Warn("the previous generation is gone; serving alone", "error", err)
		}
		p.stderr.switchAway()
	} else {
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (generation %d)", p.generation))
	}
	p.logger.Info("ready", "serving", p.unitNames())
	return nil
}

// shutdown performs the final, graceful shutdown of the process.
func (p *Process) shutdown(stopCh <-chan os.Signal, set *serveSet, cause string) error {
	p.markStopping()
	if p.role == RoleProcess && p.parent != nil {
		// A parent in probation must not take over from a process that
		// was asked to stop.
		_ = p.parent.send(linkMsg{Type: msgReleased, PID: p.pid})
	}
	p.logger.Info("shutting down", "cause", cause)
	if p.role != RoleWorker {
		p.notify("STOPPING=1")
	}
	if d := p.cfg.ShutdownDelay; d > 0 && stopCh != nil {
		p.logger.Info("shutdown delay: readiness answers 503, serving continues", "delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case sig := <-stopCh:
			p.logger.Info("shutdown delay cut short", "signal", sig)
		}
		t.Stop()
	}
	begin := time.Now()
	// No generation comes after this one: the sockets refuse new
	// connections while the servers and services accept what is queued
	// (see quiesce_linux.go), except those systemd keeps for the next
	// start, whose queues it keeps. In a worker, only a stop from the
	// supervisor is final: the supervisor keeps the sockets otherwise.
	final := p.role != RoleWorker || p.finalStop.Load()
	if final {
		p.quiesceSockets()
	}
	p.closeSockets()
	set.drain(func(u *unit) context.Context {
		if !final || (u.sock != nil && p.keptBySystemd(u.sock)) {
			return withHandingOver(context.Background())
		}
		return context.Background()
	}, p.logger)
	p.countDrains(set)
	p.awaitAncestors(p.drainLimit())
	if p.role != RoleWorker {
		p.cleanUpFinal()
	}
	p.logger.Info("stopped", "drain_took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// cleanUpFinal removes what only the last generation owns: the PID file
// (if it still names this process) and unix socket files it bound.
func (p *Process) cleanUpFinal() {
	if p.cfg.PIDFile != "" {
		if err := removePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			p.logger.Warn("remove PID file", "error", err)
		}
	}
	if p.fdStoreActive() {
		return // systemd keeps the sockets for the next start: their files stay
	}
	p.mu.Lock()
	owned := slices.Clone(p.socks.owned)
	p.mu.Unlock()
	for _, s := range owned {
		removeSocketFile(s, p.logger)
	}
}

// removeSocketFile removes the file of a unix socket that gracekit bound
// (not one systemd passed: its socket unit owns it).
func removeSocketFile(s *socket, logger interface {
	Warn(msg string, args ...any)
}) {
	ua, ok := s.addr.(*net.UnixAddr)
	if !ok || s.from == "systemd" || s.fdName != "" || ua.Name == "" || ua.Name[0] == '@' || ua.Name[0] == 0 {
		return
	}
	if err := os.Remove(ua.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		logger.Warn("remove unix socket file", "path", ua.Name, "error", err)
	}
}

// quiesceSockets makes the process's listening sockets refuse new
// connections and waits until the servers and services have accepted
// what was queued on them (see quiesce_linux.go). Sockets systemd keeps
// are left alone: their queues wait for the next start.
func (p *Process) quiesceSockets() {
	p.mu.Lock()
	var qs []quiescer
	for _, s := range p.socks.owned {
		if s.packet || s.fd < 0 || p.keptBySystemd(s) {
			continue
		}
		fd := s.fd
		qs = append(qs, quiescer{name: s.name, control: func(fn func(int)) bool { fn(fd); return true }})
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.drainLimit())
	defer cancel()
	quiesce(ctx, qs, p.logger)
}

// keptBySystemd reports whether systemd keeps s beyond this process:
// socket activation, or the file-descriptor store.
func (p *Process) keptBySystemd(s *socket) bool {
	return s.from == "systemd" || s.fdName != "" || p.fdStoreActive()
}

// closeSockets closes the process's own descriptors of its sockets.
func (p *Process) closeSockets() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.socks.owned {
		s.close()
	}
}

// finish marks the process done and releases its signal handlers and its
// link to the parent; a worker hands its supervisor its counters.
func (p *Process) finish() {
	p.sys.stopSignals(p.sigCh)
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	close(p.loopDone)
	if p.parent != nil {
		if p.role == RoleWorker {
			_ = p.parent.send(linkMsg{Type: msgTotals, Totals: p.totals.ownSnapshot()})
		}
		p.parent.close()
	}
}

// unitNames names what the process serves, for logs.
func (p *Process) unitNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.units))
	for _, u := range p.units {
		if u.srv != nil {
			names = append(names, u.srv.GetListenedAddress())
		} else {
			names = append(names, describeService(u.svc))
		}
	}
	return names
}
