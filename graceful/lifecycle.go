package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// This file is the lifecycle of a service: one state machine for both
// process modes. It runs in every process that serves (a re-exec
// generation, a worker) and in the supervisor, and follows the
// generations that process knows:
//
//	                 restart: a successor starts (attempt)
//	                       |                     \ it fails: nothing changes
//	   serving  ------------+ it is ready: handover
//	      ^                 v
//	      |   rollback   probation (drains, keeps the sockets; the
//	      +------------- successor dies or stops answering within it)
//	                        | probation over, or a stop
//	                        v
//	                    draining --> exited
//
// and, on a stop: serving --> (shutdown delay) --> stopping --> exited.
//
// What differs between the modes sits behind the kinds of generation: a
// re-exec process's own generation (localGen, run here), a supervisor's
// worker (told over the link what to do), a re-exec successor (which runs
// a lifecycle of its own after the handover); older re-exec generations
// still draining are known by their lifelines (lineage.go); and behind
// start, which says what a successor gets: the binary again, or a
// worker. A worker's own lifecycle does what its supervisor's says
// (drain, resume, release, stop) with the same actions.

const (
	// livenessInterval and livenessTimeout: during the probation of the
	// generation that handed over, its successor is asked over the link
	// every livenessInterval whether it is there; one that has not
	// answered for livenessTimeout (stopped, wedged) is killed and rolled
	// back from. The silence counts only while this process asked: at
	// least livenessTimeout/livenessInterval questions have gone
	// unanswered, so that a pause of this process's own (SIGSTOP, a
	// frozen cgroup, starved of CPU) is not blamed on the successor.
	livenessInterval = 250 * time.Millisecond
	livenessTimeout  = 2 * time.Second
	// Bounds of the back-off between attempts to start a worker when
	// none serves (supervisor mode).
	respawnMin = 100 * time.Millisecond
	respawnMax = 30 * time.Second
	// killGrace is the most a worker that was released or told to stop
	// gets beyond its stop limit before its supervisor kills it.
	killGrace = 5 * time.Second
	// outputCopyWait bounds how long a generation that handed over waits,
	// before it exits, for its successor's early output to be copied (a
	// subprocess the successor started may hold that output open).
	outputCopyWait = time.Second
)

type genKind int

const (
	genLocal     genKind = iota // this process's own generation
	genWorker                   // a worker of this supervisor
	genSuccessor                // a re-exec successor, which runs its own lifecycle
)

type genState int

const (
	stServing   genState = iota // accepts and serves
	stProbation                 // handed over; drains; may serve again
	stDraining                  // beyond rollback; finishes its work
	stStopping                  // a final stop (after the shutdown delay)
	stExited
)

func (s genState) String() string {
	return [...]string{"serving", "probation", "draining", "stopping", "exited"}[s]
}

// gen is a generation as the lifecycle knows it.
type gen struct {
	kind  genKind
	n     int // its generation number
	pid   int
	state genState
	local *localGen // genLocal
	child child     // genWorker, genSuccessor
	// socks are the sockets a worker passed when it became ready, and
	// after a rollback (this supervisor's descriptors), files those it
	// passes on; took names the sockets a successor serves.
	socks []*socket
	files []heldFile
	took  []string
	// stopLimit is how long a worker may take to exit once released or
	// told to stop (0: not known); kill fires after it (see deadline).
	stopLimit time.Duration
	kill      *time.Timer
	// lastPong is when it last answered a ping; unanswered counts the
	// pings sent since.
	lastPong   time.Time
	unanswered int
	// passedOn: a successor that said it handed over in turn, or stops.
	passedOn bool
}

func (g *gen) String() string {
	if g.kind == genLocal {
		return fmt.Sprintf("this generation (%d)", g.n)
	}
	return fmt.Sprintf("generation %d (pid %d)", g.n, g.pid)
}

// logAttrs names g in a log line, followed by more, with the keys the
// other lines use for it: none for this process's own generation (its
// logger has pid and generation), worker_pid and worker_generation for a
// worker, next_generation and child_pid for a successor.
func (g *gen) logAttrs(more ...any) []any {
	switch g.kind {
	case genWorker:
		return append([]any{"worker_pid", g.pid, "worker_generation", g.n}, more...)
	case genSuccessor:
		return append([]any{"next_generation", g.n, "child_pid", g.pid}, more...)
	}
	return more
}

// lifecycle is the state machine of one process.
type lifecycle struct {
	p *Process
	// self is this process's own generation (genLocal, the first of
	// gens); nil in a supervisor.
	self *gen
	gens []*gen
	// held are the sockets the next worker gets (supervisor mode): those
	// of the last worker that served.
	held []*socket
	// start says, in the loop, what a successor gets (see
	// Process.startNext, which starts it in a goroutine of its own), or
	// why none starts.
	start func() (childSpec, error)
	// events delivers what the generations this process started say, and
	// their exits, as calls to run in the loop.
	events chan func()
	// results delivers the outcome of the restart under way (att).
	results chan *attempt

	att   *attempt // a successor starting
	again bool     // a restart signal waits for the restart under way, or for room

	// probation fires at the end of the probation under way, which is
	// probationEnds, and every livenessInterval before it.
	probation     *time.Timer
	probationEnds time.Time
	respawn       *time.Timer
	backoff       time.Duration
	delay         *time.Timer // the shutdown delay
	stopping      bool        // a stop was asked for
	signalled     bool        // a stop signal has come (see stopSignal)
	pending       *restartRequest
	result        error
	status        string // the serving worker's exit status, for the supervisor's

	// main: this re-exec generation is the process systemd follows as
	// its main process (see passMain); mainDone: it passed that on, or
	// gave up waiting for it. mainWait bounds the wait of a generation
	// that has drained before its predecessor passed it on.
	main, mainDone bool
	mainWait       *time.Timer

	// stopCh delivers the stop signals; workers, in a supervisor, is the
	// number of the last worker started.
	stopCh  chan os.Signal
	workers int
}

// attempt is one restart under way, and then its outcome: the successor
// that serves, or why there is none.
type attempt struct {
	cancel context.CancelCauseFunc
	req    *restartRequest
	g      *gen
	err    error
}

// restartRequest is a call to Restart waiting for its outcome.
type restartRequest struct {
	ctx    context.Context
	result chan error
}

// newLifecycle makes the lifecycle of p, and catches the stop signals
// from here on: the caller stops that (p.sys.stopSignals(l.stopCh)) when
// it returns.
func newLifecycle(p *Process) *lifecycle {
	l := &lifecycle{p: p, events: make(chan func(), 64), results: make(chan *attempt, 1), stopCh: make(chan os.Signal, 4), backoff: respawnMin}
	l.main = p.role == RoleProcess && p.parent == nil
	p.sys.notifySignals(l.stopCh, stopSignals...)
	return l
}

// find returns the generation in state st (at most one serves, at most
// one is in probation).
func (l *lifecycle) find(st genState) *gen {
	for _, g := range l.gens {
		if g.state == st {
			return g
		}
	}
	return nil
}

// alive counts the generations still running: those this process
// follows, and (re-exec mode) the older ones still draining, known by
// their lifelines.
func (l *lifecycle) alive() int {
	n := len(l.p.lineage.liveAncestors())
	for _, g := range l.gens {
		if g.state != stExited {
			n++
		}
	}
	return n
}

// watch forwards a started generation's messages and its exit to the
// loop.
func (l *lifecycle) watch(g *gen) {
	go func() {
		for m := range g.child.messages() {
			l.events <- func() { l.genMsg(g, m) }
		}
		<-g.child.exited()
		l.events <- func() { l.genExited(g) }
	}()
}

// run is the loop of the lifecycle. It returns when this process has no
// more to do: its generation drained after a handover or a stop, or (a
// supervisor) every worker has exited after a stop.
func (l *lifecycle) run(ctx context.Context) error {
	p := l.p
	for !l.finished() {
		// This process's generation: while it serves, a service of it
		// may fail; once released, its drain ends it.
		var drained <-chan struct{}
		var svcErrs <-chan error
		switch g := l.self; {
		case g == nil:
		case g.state == stServing:
			svcErrs = g.local.round.errs
		case g.state != stProbation && l.mainWait == nil:
			drained = g.local.drained
		}
		select {
		case sig := <-p.sigCh:
			l.restart(sig, nil)
		case req := <-p.requests:
			l.restart(nil, &req)
		case a := <-l.results:
			l.attemptDone(l.finish(a))
		case event := <-l.events:
			event()
		case m, ok := <-p.parentMsgs:
			l.parentMsg(m, ok)
		case <-timerC(l.probation):
			l.probationTick()
		case <-timerC(l.respawn):
			l.respawn = nil
			if l.find(stServing) == nil && l.att == nil && !l.stopping {
				l.begin(nil, false)
			}
		case <-timerC(l.delay):
			l.finalStop()
		case <-timerC(l.mainWait):
			p.logger.Warn("the previous generation has not passed on systemd's main process; exiting without it", "waited", mainWaitLimit)
			l.mainWait, l.mainDone = nil, true
		case <-drained:
			l.drained()
		case err := <-svcErrs:
			l.serviceFailed(err)
		case <-p.lineage.changes():
			l.runWaiting("running the postponed restart: an older generation has exited")
		case sig := <-l.stopCh:
			l.stopSignal(sig)
		case <-ctx.Done():
			l.stop("context: " + context.Cause(ctx).Error())
			ctx = context.Background()
		}
	}
	// Timers still armed are left to the garbage collector: nothing
	// receives from them.
	return l.result
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// disarm stops *t, if it is armed, and forgets it.
func disarm(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// finished reports whether the loop is over: this process's generation
// has exited; or (the supervisor) every worker has, after a stop or when
// the first never started.
func (l *lifecycle) finished() bool {
	if l.self != nil {
		return l.self.state == stExited
	}
	return (l.stopping || l.result != nil) && l.alive() == 0
}

// restart handles the restart signal (req nil) and calls to Restart (req
// set), by the same rules in the same order: in a worker the supervisor
// decides; a restart starts unless the service is stopping, this
// generation has handed over, one is under way, or the generations alive
// fill MaxGenerations. A call that cannot start gets an error saying why;
// a signal is ignored, or runs later (again) in the last two cases.
func (l *lifecycle) restart(sig os.Signal, req *restartRequest) {
	p := l.p
	cur := l.find(stServing)
	// This generation no longer serves: its successor does, or served
	// and is gone (its sockets are closed once the probation is over).
	handedOver := l.self != nil && cur != l.self
	switch {
	case sig != nil && sig != p.cfg.RestartSignal:
		p.logger.Warn("signal ignored: it is not the restart signal", "signal", sig, "restart_signal", p.cfg.RestartSignal)
	case p.role == RoleWorker && req == nil:
		p.logger.Info("restart signal ignored: the supervisor restarts workers; signal it instead",
			"signal", sig, "supervisor_pid", p.ancestors[len(p.ancestors)-1].PID)
	case p.role == RoleWorker && l.pending != nil:
		req.result <- ErrRestartInProgress
	case p.role == RoleWorker:
		// The answer comes over the link (see parentMsg).
		if err := p.parent.send(linkMsg{Type: msgRestart, PID: p.pid}); err != nil {
			req.result <- fmt.Errorf("graceful: ask the supervisor to restart: %w", err)
		} else {
			l.pending = req
		}
	case req != nil && (l.stopping || cur == nil):
		req.result <- ErrNotRunning
	case req != nil && handedOver:
		req.result <- fmt.Errorf("%w: %w", ErrNotRunning, errHandedOver)
	case req != nil && l.att != nil:
		req.result <- ErrRestartInProgress
	case req != nil && !l.room():
		req.result <- p.refuseRestart(fmt.Errorf("%w: %d generations are alive and MaxGenerations is %d; retry once the draining ones have exited",
			ErrTooManyGenerations, l.alive(), p.cfg.MaxGenerations))
	case req != nil:
		p.logger.Info("restart requested", "by", "Restart")
		l.begin(req, true)
	case l.stopping:
		p.logger.Info("restart signal ignored: the service is stopping", "signal", sig)
	case handedOver && l.passOn(msgRestart):
		p.logger.Info("restart signal passed on to the successor, which serves", "signal", sig)
	case handedOver:
		p.logger.Info("restart signal ignored: this generation has handed over", "signal", sig)
	case l.att != nil:
		l.again = true
		p.logger.Info("restart requested during a restart: it runs when this one ends", "signal", sig)
	case !l.room():
		l.postpone("signal", sig)
	default:
		p.logger.Info("restart requested", "signal", sig)
		l.begin(nil, true)
	}
}

// room reports whether one more generation may start.
func (l *lifecycle) room() bool {
	return l.alive()+1 <= l.p.cfg.MaxGenerations
}

// postpone keeps a restart (again) for when a generation has exited: the
// generations alive fill MaxGenerations.
func (l *lifecycle) postpone(attrs ...any) {
	l.again = true
	l.p.logger.Warn("restart postponed: the generations still draining fill process.maxGenerations; it runs once one of them exits",
		append(attrs, "alive", l.alive(), "max_generations", l.p.cfg.MaxGenerations)...)
}

// runWaiting runs the restart that waits (again) if it can now: nothing
// is under way, the service is not stopping, a generation serves (or this
// is a supervisor) and there is room; msg says why it runs. A generation
// that has handed over passes it on to its successor instead.
func (l *lifecycle) runWaiting(msg string) {
	if !l.again || l.att != nil || l.stopping {
		return
	}
	cur := l.find(stServing)
	switch {
	case cur != nil && cur.kind == genSuccessor:
		l.p.logger.Info("restart requested during the restart: passed on to the successor", "to", cur.String())
		cur.child.signal(l.p.cfg.RestartSignal)
	case cur == nil && l.self != nil, !l.room():
		return
	default:
		l.p.logger.Info(msg)
		l.begin(nil, true)
	}
	l.again = false
}

// begin starts a restart: a successor starts, and the outcome
// arrives on results. restart: see Process.startNext.
func (l *lifecycle) begin(req *restartRequest, restart bool) {
	ctx := context.Background()
	if req != nil {
		ctx = req.ctx
	}
	ctx, cancel := context.WithCancelCause(ctx)
	a := &attempt{cancel: cancel, req: req}
	l.att = a
	disarm(&l.respawn)
	spec, err := l.start()
	serving := l.find(stServing) != nil
	go func() {
		a.err = err
		if err == nil {
			a.g, a.err = l.p.startNext(ctx, spec, restart, serving)
		}
		l.results <- a
	}()
}

// finish ends the restart under way once its outcome a has arrived: the
// caller of Restart that asked for it gets the outcome.
func (l *lifecycle) finish(a *attempt) *attempt {
	a.cancel(nil)
	l.att = nil
	if a.req != nil {
		a.req.result <- a.err
	}
	return a
}

// errAbandoned is why a restart under way was given up on: this process
// stops (or a service failed), rather than the caller of Restart giving
// up on it.
var errAbandoned = errors.New("this process stops")

// abandon gives up on the restart under way, if any, and returns the
// successor that became ready meanwhile, if one did: it serves.
func (l *lifecycle) abandon() *gen {
	if l.att == nil {
		return nil
	}
	l.att.cancel(errAbandoned)
	return l.finish(<-l.results).g
}

// attemptDone takes the outcome of the restart under way.
func (l *lifecycle) attemptDone(a *attempt) {
	if a.err == nil {
		l.handOver(a.g)
		return
	}
	l.sendTotals()
	if l.self == nil && l.find(stServing) == nil {
		if len(l.gens) == 0 { // the service never was ready
			l.result = fmt.Errorf("graceful: supervisor: the first worker did not start: %w", a.err)
			return
		}
		l.armRespawn("the new worker did not start")
	}
	l.runWaiting("restart requested during the failed one: starting it")
}

// handOver makes g, ready, the serving generation; the one that served
// drains, in probation when rollback is possible (it keeps its copies of
// the sockets g took).
func (l *lifecycle) handOver(g *gen) {
	p := l.p
	old, first := l.find(stServing), len(l.gens) == 0
	// One in probation is older than the one handing over now: beyond
	// rollback.
	l.endProbation(l.find(stProbation))
	l.gens = append(l.gens, g)
	l.watch(g)
	g.lastPong = time.Now()
	disarm(&l.respawn)
	l.backoff = respawnMin
	if g.kind == genWorker {
		l.hold(g.socks)
		p.storeSockets(g.socks)
		l.sendTotals()
		// The supervisor is ready once its first worker is.
		if first {
			if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
				l.result = fmt.Errorf("graceful: %w", err)
				l.stop("cannot report ready")
				return
			}
			p.logger.Info("ready", "worker_pid", g.pid)
		} else if wrote, err := rewritePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			// The worker serves already: the restart stands.
			p.logger.Error("the PID file no longer names the supervisor, and it could not be written again", "error", err)
		} else if wrote {
			p.logger.Warn("the PID file no longer named the supervisor: written again", "pid_file", p.cfg.PIDFile)
		}
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d)", g.n, g.pid))
	}
	if old != nil {
		// It is told to drain, and then released at once when a rollback
		// is not possible.
		old.state = stProbation
		release := p.cfg.Probation <= 0 || old.kind == genLocal && !old.local.canResume()
		if old.kind == genLocal {
			if p.parent != nil && p.role == RoleProcess {
				// This generation's own parent may be waiting out a
				// probation on it: it is over.
				_ = p.parent.send(linkMsg{Type: msgReleased, PID: p.pid})
			}
			// The successor's counters go on from this generation's.
			_ = g.child.send(linkMsg{Type: msgTotals, Totals: p.totals.snapshot(), RestartNanos: p.lastRestart.Load()})
			old.local.drain(false, g.took)
			p.logger.Info("handed over; draining", "to_pid", g.pid, "probation", !release)
		} else {
			drain := linkMsg{Type: msgDrain}
			for _, name := range g.took {
				drain.Sockets = append(drain.Sockets, handoverSocket{Name: name, Fd: -1})
			}
			if err := old.child.send(drain); err != nil {
				p.logger.Warn("could not tell the old worker to drain; stopping it", "worker_pid", old.pid, "error", err)
				old.child.signal(syscall.SIGTERM)
			}
			// The supervisor's copies of sockets the new worker does not
			// use go now: their address must be free to bind again.
			took := setOf(g.took)
			old.socks = slices.DeleteFunc(old.socks, func(s *socket) bool {
				gone := !took[s.name]
				if gone {
					s.close()
				}
				return gone
			})
			p.totals.add(totalRestartsSucceeded, 1)
			p.logger.Info("handed over to the new worker", g.logAttrs("old_worker_pid", old.pid, "probation", !release)...)
		}
		if release {
			l.endProbation(old)
		} else {
			l.armProbation(p.cfg.Probation)
		}
	}
	// A restart asked for during this one runs now, or once there is
	// room; a successor runs it itself.
	if l.again && g.kind != genSuccessor && !l.room() {
		l.postpone()
	}
	l.runWaiting("restart requested during the restart: starting it")
	if g.kind == genWorker && old != nil && !l.stopping && l.att == nil && l.result == nil {
		// The new worker serves: the supervisor takes a new binary or new
		// settings of its own too.
		if ok, why := p.wantsReexec(g); ok {
			p.logger.Info("restart: the supervisor takes "+why, "worker_pid", g.pid)
			l.reexecSupervisor()
		}
	}
}

// hold makes socks the sockets the supervisor holds for the next worker.
// Those it held before that neither socks nor a worker alive has are
// closed: the copies a worker that died had passed (kept for its
// respawn), or the ones the supervisor started with. Dropped unclosed,
// each death of the serving worker left the supervisor one more
// descriptor of every socket, and an address no worker serves any more
// bound in it for good.
func (l *lifecycle) hold(socks []*socket) {
	keep := slices.Clone(socks)
	for _, g := range l.gens {
		if g.state != stExited {
			keep = append(keep, g.socks...)
		}
	}
	closeSockets(l.held, keep)
	l.held = socks
}

// armProbation starts a probation of d for the generation that handed
// over (see probationTick).
func (l *lifecycle) armProbation(d time.Duration) {
	disarm(&l.probation)
	l.probationEnds = time.Now().Add(d)
	l.probation = time.NewTimer(min(d, livenessInterval))
}

// probationTick ends the probation once its time is over. Before, it asks
// the generation that serves whether it is there, every
// livenessInterval, and kills one that has not answered for
// livenessTimeout: it is rolled back from when its exit arrives.
func (l *lifecycle) probationTick() {
	prev, cur := l.find(stProbation), l.find(stServing)
	switch {
	case prev == nil:
		l.probation = nil
	case !time.Now().Before(l.probationEnds):
		l.p.logger.Debug("probation over", prev.logAttrs()...)
		l.endProbation(prev)
	default:
		if cur != nil { // the successor that serves
			if silent := time.Since(cur.lastPong); silent > livenessTimeout && cur.unanswered >= int(livenessTimeout/livenessInterval) {
				l.p.logger.Error("the successor does not answer within the probation; killing it to roll back",
					cur.logAttrs("silent_for", silent.Round(time.Millisecond))...)
				cur.child.signal(syscall.SIGKILL)
				cur.lastPong = time.Now() // once
			} else if cur.child.send(linkMsg{Type: msgPing}) == nil {
				cur.unanswered++
			}
		}
		l.probation.Reset(min(livenessInterval, time.Until(l.probationEnds)))
	}
}

// socketNames returns the names of the sockets of a handover.
func socketNames(hs []handoverSocket) []string {
	out := make([]string, len(hs))
	for i, s := range hs {
		out[i] = s.Name
	}
	return out
}

// endProbation ends g's probation, if it is in one: it no longer serves
// again, and lets its sockets go (this process's own generation: see
// localGen.release; the loop sees its drain end, see run).
func (l *lifecycle) endProbation(g *gen) {
	if g == nil || g.state != stProbation {
		return
	}
	g.state = stDraining
	disarm(&l.probation)
	switch g.kind {
	case genWorker:
		_ = g.child.send(linkMsg{Type: msgRelease})
		l.deadline(g)
	case genLocal:
		l.passMain()
		g.local.release()
	}
}

// passMain makes this generation's successor the process systemd follows
// as its main process (MAINPID=), if this generation is that process,
// once its probation is over: a successor that dies within the probation
// must not be systemd's main process, whose death systemd takes for the
// service's failure (it stops the rest of the service, the generation
// that rolled back with it). The successor learns it over the link, and
// passes it on in turn if it has handed over meanwhile; each MAINPID= is
// sent before the message that lets the next one be sent, so systemd
// gets them in order.
func (l *lifecycle) passMain() {
	succ := l.find(stServing)
	if !l.main || succ == nil || succ.kind != genSuccessor {
		return
	}
	l.p.notify(fmt.Sprintf("MAINPID=%d", succ.pid))
	if succ.child.send(linkMsg{Type: msgMain}) == nil {
		l.main, l.mainDone = false, true
	}
}

// mainWaitLimit bounds how long a generation that has drained waits for
// its predecessor to pass systemd's main process on (see drained).
const mainWaitLimit = 5 * time.Second

// awaitsMain reports whether this generation, drained after its handover,
// must wait before it exits: under systemd, its predecessor is still
// systemd's main process and passes that on to it (its probation ended
// when this one handed over), and this one must pass it on to its own
// successor. Exiting first, it would leave systemd following a process
// that is gone once its predecessor exits.
func (l *lifecycle) awaitsMain() bool {
	_, sd := l.p.sys.lookupEnv("NOTIFY_SOCKET")
	return sd && l.p.role == RoleProcess && !l.main && !l.mainDone && l.p.parentMsgs != nil
}

// deadline kills worker g unless it has exited within its stop limit
// (and as much again, up to killGrace) from now: it was released or told
// to stop, and one that is stopped or wedged would otherwise hold its
// sockets, and the supervisor's exit, for good.
func (l *lifecycle) deadline(g *gen) {
	if g.kind != genWorker || g.stopLimit <= 0 || g.kill != nil {
		return
	}
	limit := g.stopLimit + min(g.stopLimit, killGrace)
	c, pid, logger := g.child, g.pid, l.p.logger
	g.kill = time.AfterFunc(limit, func() {
		select {
		case <-c.exited():
		default:
			logger.Error("the worker has not exited within its stop limit; killing it", "worker_pid", pid, "limit", limit)
			c.signal(syscall.SIGKILL)
		}
	})
}

// genMsg handles a message from a generation this process started.
func (l *lifecycle) genMsg(g *gen, m linkMsg) {
	switch m.Type {
	case msgPong:
		g.lastPong, g.unanswered = time.Now(), 0
	case msgReleased:
		// A successor handed over in turn, or was asked to stop: it will
		// not die as a failed release any more.
		if g.state == stServing {
			g.passedOn = true
			l.endProbation(l.find(stProbation))
		}
	case msgTotals:
		l.p.totals.addAll(m.Totals)
		l.sendTotals()
	case msgResumed:
		// A worker rolled back to passes the sockets it serves again. The
		// supervisor let go of those its successor did not take, and the
		// worker has bound them again: it holds them from now on, for the
		// next worker. The copies of the others it keeps.
		if g.kind != genWorker || g.state != stServing || l.stopping {
			closeAll(m.fds)
			return
		}
		var added []*socket
		var names []string
		for _, s := range l.p.workerSockets(g.pid, m.Sockets, m.fds) {
			if slices.ContainsFunc(g.socks, func(h *socket) bool { return h.name == s.name }) {
				s.close()
				continue
			}
			added, names = append(added, s), append(names, s.name)
		}
		if len(added) > 0 {
			g.socks = append(g.socks, added...)
			l.held = g.socks
			l.p.storeSockets(added)
			l.p.logger.Info("holding the sockets the worker serves again", "worker_pid", g.pid, "sockets", names)
		}
	case msgRestart:
		// The worker's Process.Restart: the outcome goes back over the
		// link once it is known.
		req := restartRequest{ctx: context.Background(), result: make(chan error, 1)}
		if g.state != stServing {
			req.result <- fmt.Errorf("%w: this worker has been replaced", ErrNotRunning)
		} else {
			l.p.logger.Info("restart requested", "by", "Restart", "worker_pid", g.pid)
			l.restart(nil, &req)
		}
		go func() {
			m := linkMsg{Type: msgRestarted}
			if err := <-req.result; err != nil {
				m.Error = err.Error()
			}
			_ = g.child.send(m)
		}()
	}
}

// genExited handles the exit of a generation this process started.
func (l *lifecycle) genExited(g *gen) {
	p := l.p
	was := g.state
	g.state = stExited
	if g.kill != nil {
		g.kill.Stop()
	}
	status := g.child.exitStatus()
	closeFiles(g.files)
	prev := l.find(stProbation)
	switch {
	case was == stServing && prev != nil && !l.stopping:
		p.logger.Error("the successor died within the probation; rolling back", g.logAttrs("exit", status)...)
		l.rollBack(prev)
	case g.kind == genSuccessor && was == stServing && !g.passedOn && !l.stopping:
		p.logger.Error("the successor died after its probation: no generation serves; this one drains and exits",
			g.logAttrs("exit", status)...)
	case g.kind != genWorker:
	case was != stServing:
		p.logger.Info("old worker exited", "worker_pid", g.pid, "status", status)
	case l.stopping:
		l.status = status
		p.logger.Info("the serving worker exited", "worker_pid", g.pid, "status", status)
	default:
		p.logger.Error("the serving worker exited", "worker_pid", g.pid, "status", status)
		l.armRespawn("the serving worker exited: " + status)
	}
	// The sockets of the last serving worker are what the next one gets
	// (a rollback has made them the previous worker's).
	closeSockets(g.socks, l.held)
	l.sendTotals()
	l.runWaiting("running the postponed restart: an older generation has exited")
}

// rollBack makes g, in probation, serve again.
func (l *lifecycle) rollBack(g *gen) {
	p := l.p
	disarm(&l.probation)
	if g.kind == genWorker {
		if err := g.child.send(linkMsg{Type: msgResume}); err != nil {
			p.logger.Error("rollback failed", g.logAttrs("error", err)...)
			g.state = stDraining
			l.armRespawn("rollback failed")
			return
		}
		g.state = stServing
		p.totals.add(totalRollbacks, 1)
		l.hold(g.socks)
		p.logger.Warn("rolled back: the previous worker serves again", g.logAttrs()...)
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d, rolled back)", g.n, g.pid))
		l.sendTotals()
		return
	}
	if p.role != RoleWorker {
		// Before it serves: whoever reads the PID file then finds a
		// process that answers.
		if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			p.logger.Warn("rolling back, but the PID file could not be written", "error", err)
		}
	}
	if err := g.local.resume(); err != nil {
		p.logger.Error("rollback failed", g.logAttrs("error", err)...)
		// The drain of the round before is under way: once it is over,
		// the generation ends.
		l.result = fmt.Errorf("graceful: rollback failed: %w", err)
		g.state = stStopping
		p.stopBegan = time.Now()
		return
	}
	g.state = stServing
	p.totals.add(totalRollbacks, 1)
	p.logger.Warn("rolled back: serving again")
	if p.role != RoleWorker {
		p.notify(fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=serving (generation %d, rolled back)", p.pid, p.generation))
		return
	}
	// The supervisor holds the sockets for the next worker, those this
	// one has bound again included (see genMsg).
	p.mu.Lock()
	owned := slices.Clone(p.socks.owned)
	p.mu.Unlock()
	m, fds := p.socketsMsg(msgResumed, owned)
	if err := p.parent.send(m, fds...); err != nil {
		p.logger.Warn("could not pass the sockets served again to the supervisor", "error", err)
	}
}

// armRespawn starts a worker after a back-off, when none serves (a
// supervisor).
func (l *lifecycle) armRespawn(why string) {
	if l.respawn != nil || l.att != nil || l.stopping {
		return
	}
	l.p.logger.Error("no worker serves; starting another", "reason", why, "retry_in", l.backoff)
	l.respawn = time.NewTimer(l.backoff)
	l.backoff = min(2*l.backoff, respawnMax)
}

// sendTotals brings the serving worker's counters up to date.
func (l *lifecycle) sendTotals() {
	if cur := l.find(stServing); l.self == nil && cur != nil {
		_ = cur.child.send(linkMsg{Type: msgTotals, Totals: l.p.totals.snapshot(), RestartNanos: l.p.lastRestart.Load(), Alive: l.alive()})
	}
}

// parentMsg handles a message from the process that started this one
// (a worker's supervisor, or a re-exec generation's parent), or the end
// of its link (ok false): a re-exec generation then goes on alone; a
// worker whose supervisor is gone stops (after a handover, it ends its
// drain).
func (l *lifecycle) parentMsg(m linkMsg, ok bool) {
	p := l.p
	g := l.self
	switch {
	case !ok:
		p.parentMsgs = nil
		disarm(&l.mainWait)
		if p.role == RoleProcess && !l.main && !l.mainDone {
			// The previous generation is gone without passing on
			// systemd's main process: this one is the process to follow.
			l.main = true
			if g.state == stServing || g.state == stProbation {
				p.notify(fmt.Sprintf("MAINPID=%d", p.pid))
			} else {
				l.passMain()
			}
		}
		if p.role == RoleWorker {
			p.logger.Warn("the supervisor is gone; shutting down")
			p.finalStop.Store(true)
			l.stop("supervisor gone")
		}
	case m.Type == msgTotals:
		p.takeTotals(m)
	case m.Type == msgRestarted, m.Type == msgDrain:
		// The outcome of this worker's Restart: its supervisor's answer,
		// or the drain that says the restart succeeded.
		if l.pending != nil {
			var err error
			if m.Error != "" {
				err = errors.New(m.Error)
			}
			l.pending.result <- err
			l.pending = nil
		}
		if m.Type == msgDrain && g.state == stServing {
			p.logger.Info("told to drain by the supervisor; draining")
			g.state = stProbation
			g.local.drain(false, socketNames(m.Sockets))
		}
	case m.Type == msgResume && g.state == stProbation:
		p.logger.Error("the supervisor says the new worker died within the probation; rolling back")
		l.rollBack(g)
	case m.Type == msgRelease:
		l.endProbation(g)
	case m.Type == msgStop && p.role == RoleWorker:
		p.finalStop.Store(true)
		l.stop("the supervisor stops")
	case m.Type == msgStop && l.stopping:
		p.logger.Info("a stop signal the previous generation passed on: the stop under way goes on")
	case m.Type == msgStop:
		l.stop("a stop signal the previous generation passed on")
	case m.Type == msgMain && p.role == RoleProcess && !l.mainDone:
		l.main = true
		disarm(&l.mainWait)
		if g.state != stServing && g.state != stProbation {
			l.passMain() // it handed over, and its probation is over
		}
	case m.Type == msgRestart && p.role != RoleWorker:
		p.logger.Info("a restart signal the previous generation passed on")
		l.restart(p.cfg.RestartSignal, nil)
	}
}

// serviceFailed handles a service of this generation that failed.
func (l *lifecycle) serviceFailed(err error) {
	l.result = err
	if g := l.abandon(); g != nil {
		l.p.logger.Error("a service failed during a restart; the successor serves", "error", err)
		l.handOver(g)
		return
	}
	l.p.logger.Error("a service failed; shutting the process down", "error", err)
	l.stop("a service failed")
}

// stopSignal handles a stop signal. A worker leaves its stop to its
// supervisor, as it does its restarts, for as long as the supervisor is
// there: a signal sent to the whole process group (a terminal's Ctrl-C,
// dumb-init, tini -g, supervisord's stopasgroup, systemd's default
// KillMode) reaches the supervisor too, which stops the service with its
// shutdown delay and then tells the worker to drain as the last one; and
// a signal sent to a worker alone would leave no worker accepting while
// it drains.
func (l *lifecycle) stopSignal(sig os.Signal) {
	p := l.p
	if p.role == RoleWorker && p.parentMsgs != nil {
		p.logger.Info("stop signal ignored: the supervisor stops workers; signal it instead",
			"signal", sig, "supervisor_pid", p.ancestors[len(p.ancestors)-1].PID)
		return
	}
	first := !l.signalled
	l.signalled = true
	switch g := l.self; {
	case l.stopping && first:
		// Only a second signal cuts a stop short: this stop began
		// without one (Run's context, or a stop passed on by the
		// previous generation).
		p.logger.Info("stop signal: the stop under way goes on", "signal", sig)
		return
	case g != nil && g.state != stServing && !l.stopping && l.passOn(msgStop):
		p.logger.Info("stop signal passed on to the successor, which serves", "signal", sig)
	}
	l.stop(sig.String())
}

// passOn passes a signal that reached this generation after its handover
// on to its re-exec successor, as a message of type typ (which passes it
// on in turn if it has handed over too), and reports whether it did. A
// restart signal always is: this generation cannot restart the service,
// its successor can. A stop signal is within the probation, or while the
// PID file still names this generation: the successor puts its own in
// place just after its ready message, so a sender that read the file
// about the time of the handover meant the service. Later, one that
// signals an old PID it knew stops that generation alone, whose drain
// goes on.
func (l *lifecycle) passOn(typ string) bool {
	p := l.p
	succ := l.find(stServing)
	if succ == nil || succ.kind != genSuccessor {
		return false
	}
	if typ == msgStop && l.self.state != stProbation && !pidFileNames(p.cfg.PIDFile, p.pid) {
		return false
	}
	return succ.child.send(linkMsg{Type: typ, PID: p.pid}) == nil
}

// stop handles a stop signal, the end of Run's context, or a supervisor's
// stop.
func (l *lifecycle) stop(cause string) {
	p := l.p
	l.again = false
	// A successor that became ready meanwhile serves: this process hands
	// over to it rather than stop as the last one.
	if g := l.abandon(); g != nil {
		l.handOver(g)
		if l.self != nil {
			return
		}
	}
	if l.stopping {
		if l.delay != nil {
			p.logger.Info("shutdown delay cut short", "cause", cause)
			l.finalStop()
		} else if cur := l.find(stServing); l.self == nil && cur != nil {
			// The worker ignores stop signals while its supervisor is
			// there: a second stop message cuts its shutdown delay short.
			p.logger.Info("passing the signal on to the worker", "worker_pid", cur.pid)
			if err := cur.child.send(linkMsg{Type: msgStop}); err != nil {
				cur.child.signal(syscall.SIGTERM)
			}
		}
		return
	}
	l.stopping = true
	disarm(&l.respawn)
	g := l.self
	if g != nil && g.state != stServing {
		// Draining already (its probation ends here): it goes on, and
		// never serves again.
		p.logger.Info("stop requested while draining: no rollback", "cause", cause, "probation", g.state == stProbation)
		l.endProbation(g)
		return
	}
	l.endProbation(l.find(stProbation)) // a supervisor's old worker
	p.stopRequested.Store(true)
	p.markStopping()
	if p.role == RoleProcess && p.parent != nil {
		// A parent in probation must not roll back when a process that
		// was asked to stop exits.
		_ = p.parent.send(linkMsg{Type: msgReleased, PID: p.pid})
	}
	p.logger.Info("shutting down", "cause", cause)
	if p.role != RoleWorker {
		p.notify("STOPPING=1")
	}
	if g == nil {
		// A supervisor stops its workers: the serving one as the last
		// generation (it serves what is queued on the sockets before it
		// closes them), the others finishing their drain; the
		// supervisor's own copies of the sockets go, as the workers drain
		// on their own descriptors of them. (held keeps them, closed, for
		// the clean-up of their files once the workers have exited.)
		for _, w := range l.gens {
			if w.state == stExited {
				continue
			}
			if err := w.child.send(linkMsg{Type: msgStop}); err != nil {
				w.child.signal(syscall.SIGTERM)
			}
			l.deadline(w)
		}
		closeSockets(l.held, nil)
		return
	}
	if d := p.cfg.ShutdownDelay; d > 0 && l.result == nil {
		p.logger.Info("shutdown delay: readiness answers 503, serving continues", "delay", d)
		l.delay = time.NewTimer(d)
		return
	}
	l.finalStop()
}

// finalStop drains this generation as the last one, at once or at the end
// of the shutdown delay: no generation comes after it (in a worker,
// unless its supervisor said the service stops, the supervisor keeps the
// sockets for the next worker).
func (l *lifecycle) finalStop() {
	p := l.p
	disarm(&l.delay)
	l.self.state = stStopping
	p.stopBegan = time.Now()
	l.self.local.drain(p.role != RoleWorker || p.finalStop.Load(), nil)
}

// drained ends this generation, released, once its drain is over: after
// a handover and its probation, or a stop as the last one.
func (l *lifecycle) drained() {
	p := l.p
	if l.self.state != stStopping && l.awaitsMain() {
		p.logger.Info("drained; waiting for the previous generation to pass on systemd's main process", "limit", mainWaitLimit)
		l.mainWait = time.NewTimer(mainWaitLimit)
		return
	}
	owned := p.closeSockets()
	if l.self.state == stStopping {
		p.awaitAncestors(p.drainLimit())
		if p.role != RoleWorker {
			p.cleanUpFinal(owned)
		}
		p.logger.Info("stopped", "drain_took", time.Since(p.stopBegan).Round(time.Millisecond))
	} else {
		succ := l.find(stServing)
		if succ != nil {
			// The successor's counters go on from this generation's last.
			_ = succ.child.send(linkMsg{Type: msgTotals, Totals: p.totals.snapshot()})
			// What it logged before it was ready came through this
			// process: all of it is written out before this one exits.
			select {
			case <-succ.child.outputCopied():
			case <-time.After(outputCopyWait):
			}
		}
		// A successor that said it writes the same PID file puts it in
		// place itself, maybe just after its ready message; an older one
		// wrote it before. This one's still names this process only if
		// the path changed.
		if p.role == RoleProcess && (succ == nil || succ.child.readyMessage().PIDFile != p.cfg.PIDFile) {
			if err := removePIDFile(p.cfg.PIDFile, p.pid); err != nil {
				p.logger.Warn("remove the PID file of the previous path", "error", err)
			}
		}
		p.logger.Info("handed over and drained; exiting")
	}
	l.self.state = stExited
}
