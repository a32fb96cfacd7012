package graceful

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
)

// Run serves every server made with [Process.NewServer] and every service
// given to [Process.Add], reports the process ready, and then handles its
// lifecycle until this generation is done:
//
//   - the restart signal (or [Process.Restart]) starts a successor (the
//     next generation); once it is ready, this process stops accepting
//     and drains. A failed restart changes nothing. After the drain the
//     process waits out [ProcessConfig.Probation] (unless the successor
//     hands over or stops first): if the successor dies, or stops
//     answering, in that time, this one serves again ("rolled back") and
//     Run goes on; otherwise Run returns nil.
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
// ready; before ready, the old generation (or the supervisor) logs that
// error as the reason the restart failed.
func (p *Process) Run(ctx context.Context) error {
	units, err := p.beginRun()
	if err != nil {
		p.reportFailure(err)
		return err
	}
	defer p.finish()

	l := newLifecycle(p)
	defer p.sys.stopSignals(l.stopCh)

	// Restart signals that arrived while the process was starting are
	// dropped: it was not ready to restart, and it must not restart as
	// soon as it is.
	for len(p.sigCh) > 0 {
		p.logger.Warn("restart signal received while the process was starting: ignored", "signal", <-p.sigCh)
	}
	g := &gen{kind: genLocal, n: p.generation, pid: p.pid, state: stServing, local: &localGen{p: p, units: units}}
	g.local.serve()
	if err := p.becomeReady(); err != nil {
		p.reportFailure(err)
		// The parent (or supervisor) still serves these sockets.
		g.local.drain(false, nil)
		<-g.local.drained
		p.closeSockets()
		return err
	}
	l.self = g
	l.gens = []*gen{g}
	l.start = p.successorSpec
	if why := p.reexecRefusal(); why != "" && p.role == RoleProcess {
		// Said at the start, not only at the first restart signal.
		if p.pid == 1 {
			why += "; and as PID 1 in re-exec mode, it does not reap orphans"
		}
		p.logger.Warn("re-exec restarts will be refused: " + why + "; use process.mode: supervisor")
	}
	return l.run(ctx)
}

// reportFailure tells the process that started this one why Run failed
// before this generation was ready: it logs it as the restart's reason.
func (p *Process) reportFailure(err error) {
	if p.parent != nil {
		_ = p.parent.send(linkMsg{Type: msgFailed, PID: p.pid, Error: err.Error()})
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
	p.units = slices.DeleteFunc(p.units, func(u *unit) bool {
		closed := u.srv != nil && u.srv.isStopping(u.srv.rd)
		if closed {
			p.socks.drop(u.sock)
		}
		return closed
	})
	if len(p.units) == 0 {
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
	return slices.Clone(p.units), nil
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
	p.mu.Lock()
	owned := slices.Clone(p.socks.owned)
	var serving []string // a server by the address it listens on
	for _, u := range p.units {
		serving = append(serving, describeService(u.svc))
	}
	p.mu.Unlock()
	msg, fds := p.socketsMsg(msgReady, owned)
	if p.role == RoleWorker {
		msg.Settings = p.settings()
		if d := p.boundedDrainLimit(); d > 0 {
			msg.StopLimit = p.cfg.ShutdownDelay + d
		}
		for _, f := range p.lineage.ownFiles() {
			msg.Files = append(msg.Files, f.passedFile)
			fds = append(fds, f.fd)
		}
		if err := p.parent.send(msg, fds...); err != nil {
			return fmt.Errorf("graceful: report ready to the supervisor: %w", err)
		}
	} else {
		var encoded []byte
		if p.parent != nil {
			msg.PIDFile = p.cfg.PIDFile
			// Encoded before anything says that this process serves: a
			// message that cannot be sent fails the start.
			var err error
			if encoded, err = encodeLinkMsg(msg); err != nil {
				return fmt.Errorf("graceful: report ready to the previous generation: %w", err)
			}
		}
		pidFile, err := preparePIDFile(p.cfg.PIDFile, p.pid)
		if err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
		if p.parent == nil {
			// A first start has no one waiting for it: the file is in
			// place before systemd hears READY=1, and a rename that fails
			// fails the start.
			if err := pidFile.publish(); err != nil {
				return fmt.Errorf("graceful: %w", err)
			}
		}
		p.storeSockets(owned)
		state := fmt.Sprintf("READY=1\nSTATUS=serving (generation %d)", p.generation)
		if p.parent == nil {
			p.notify(state)
		} else {
			// systemd first: the reload is over. It follows this process
			// as the main one only once the parent's probation is over,
			// and the parent says so (see lifecycle.passMain).
			p.notify(state)
			if err := p.parent.sendEncoded(msg.Type, encoded, nil); err != nil {
				// The parent died during the handover: this process
				// goes on alone.
				p.logger.Warn("the previous generation is gone; serving alone", "error", err)
			}
			// A successor puts the file in place once it has reported
			// ready (the ready message names the path, so that the
			// previous generation leaves it alone): it never names a
			// process that is not ready. The rename fails here only if
			// the directory changed since the file was written.
			if err := pidFile.publish(); err != nil {
				p.logger.Error("the PID file still names the previous generation", "error", err)
			}
		}
	}
	p.stderr.switchAway() // none without a parent
	p.logger.Info("ready", "serving", serving)
	return nil
}

// socketsMsg returns a message of type typ that names the sockets in
// owned, and the descriptors it carries: a worker's supervisor holds the
// worker's sockets for the next worker (and the files it passes on).
// The caller holds no lock.
func (p *Process) socketsMsg(typ string, owned []*socket) (linkMsg, []int) {
	msg := linkMsg{Type: typ, PID: p.pid}
	var fds []int
	for _, s := range owned {
		hs := handoverSocket{Name: s.name, FdName: s.fdName, Fd: -1}
		if p.role == RoleWorker && s.fd >= 0 {
			hs.Fd = len(fds)
			fds = append(fds, s.fd)
		}
		msg.Sockets = append(msg.Sockets, hs)
	}
	return msg, fds
}

// cleanUpFinal removes what only the last generation (or the supervisor)
// owns: the PID file, if it still names this process, and the files of
// the unix sockets in socks that gracekit bound: not those systemd
// passed (their socket unit owns them), and none when systemd keeps the
// sockets for the next start.
func (p *Process) cleanUpFinal(socks []*socket) {
	if err := removePIDFile(p.cfg.PIDFile, p.pid); err != nil {
		p.logger.Warn("remove PID file", "error", err)
	}
	for _, s := range socks {
		ua, ok := s.addr.(*net.UnixAddr)
		if !ok || p.fdStoreActive() || s.from == "systemd" || s.fdName != "" || ua.Name == "" || ua.Name[0] == '@' || ua.Name[0] == 0 {
			continue
		}
		if err := os.Remove(ua.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.logger.Warn("remove unix socket file", "path", ua.Name, "error", err)
		}
	}
}

// closeSockets closes the process's own descriptors of its sockets, and
// returns the sockets.
func (p *Process) closeSockets() []*socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.socks.owned {
		s.close()
	}
	return slices.Clone(p.socks.owned)
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

// errHandedOver: a Restart call reached a generation that has handed over.
var errHandedOver = errors.New("graceful: this generation has handed over to its successor")
