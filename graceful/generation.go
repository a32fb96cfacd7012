package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// localGen is the generation this process runs: its servers and services,
// served round after round (a rollback serves another round on the same
// sockets, with the same *Server values). Its methods are the actions of
// the lifecycle on a generation, the same whether the lifecycle of this
// process decides them (re-exec mode) or a supervisor sends them (a
// worker). They are called from the lifecycle's loop only. Whether the
// generation has been released (its probation is over: see release) is
// its state in the lifecycle (draining or stopping).
type localGen struct {
	p     *Process
	units []*unit
	round *serveSet

	// drained is closed when the drain of the last round is over, and
	// those of the rounds before it; nil while the generation serves.
	drained chan struct{}
	// before is the drained of the round a rollback followed: its drain
	// goes on (the requests it serves began before the restart), and the
	// next drain ends only after it.
	before chan struct{}
	// stopping is closed once that drain has begun to stop every server
	// and closed the retired sockets it frees early (see retirement): a
	// rollback serves again only then.
	stopping chan struct{}
	// retired is what that drain does with the sockets the successor did
	// not take; nil before a drain and after a resume.
	retired *retirement
}

// retirement is the sockets a drain retires (the successor did not take
// them). It serves what is queued on them, then closes them. A socket
// only servers use, and that systemd does not keep, closes as soon as
// its servers have closed their listeners, so that its address is free
// at once (a restart may bind it again); a rollback binds it again. The
// others (a service's, which holds a listener of its own until its
// Shutdown returns; one systemd keeps, whose address closing would not
// free) close when the drain ends, unless a rollback has taken them
// back by then (taken, guarded by Process.mu): they serve again as
// they are.
type retirement struct {
	socks []*socket
	taken bool
}

// serveSet is one round of serving the units: errs delivers the errors of
// services and servers that failed while serving (one each at most);
// returned[i] is closed when the Serve of g.units[i] has returned, for
// a service that is not a server (nil for a server: the drain waits for
// each server to stop).
type serveSet struct {
	errs     chan error
	returned []chan struct{}
}

// serviceGrace is how long a drain waits for a service that breaks its
// contract (see [Service]): for its Shutdown to return once its ctx has
// ended, and for its Serve to return once its Shutdown has returned.
// Past it the drain logs an error that names the service and goes on
// without it, so that a service cannot keep a generation from exiting.
const serviceGrace = time.Second

// serve starts a round of serving every unit.
func (g *localGen) serve() {
	set := &serveSet{errs: make(chan error, len(g.units)), returned: make([]chan struct{}, len(g.units))}
	for i, u := range g.units {
		if u.srv != nil {
			// A server made by NewServer serves from here on: a drain
			// that follows the ready message at once finds it serving.
			// It needs no goroutine of its own to say that it failed.
			if _, err := u.srv.start(func(err error) { set.errs <- err }); err != nil && !errors.Is(err, ErrServerClosed) {
				set.errs <- err
			}
			continue
		}
		returned := make(chan struct{})
		set.returned[i] = returned
		go func() {
			defer close(returned)
			err := u.svc.Serve(context.Background())
			if err != nil && !errors.Is(err, ErrServerClosed) {
				set.errs <- err
			}
		}()
	}
	g.round, g.drained = set, nil
}

// drain stops the generation serving: every unit shuts down, concurrently,
// with a context that says whether a successor serves the sockets (a
// handover) or not (final: a final stop; or a socket the successor no
// longer uses (not in took, when took is given), which is retired: it
// refuses new connections while what is queued on it is served, then
// closes, see quiesce.go). The sockets the successor uses stay open for
// the probation. drained is closed once every unit has returned.
func (g *localGen) drain(final bool, took []string) {
	if g.drained != nil {
		return
	}
	p := g.p
	p.markStopping()
	// The stream sockets no generation serves next refuse new
	// connections, once the servers and services have accepted what was
	// queued on them (see quiesce.go): at a final stop those of the
	// process but the ones systemd keeps, whose queues wait for the next
	// start; at a handover those it retires.
	var qs []quiescer
	var retire []*socket
	var names []string
	quiesced := map[*socket]bool{}
	var kept map[string]bool // the sockets the successor took, by name
	if !final && took != nil {
		kept = setOf(took)
	}
	p.mu.Lock()
	for _, s := range p.socks.owned {
		retired := kept != nil && !kept[s.name]
		if retired {
			retire = append(retire, s)
			names = append(names, s.name)
		}
		if (retired || final && !p.keptBySystemd(s)) && !s.packet && s.fd >= 0 {
			fd := s.fd
			quiesced[s] = true
			qs = append(qs, quiescer{name: s.name, control: func(fn func(int)) bool { fn(fd); return true }})
		}
	}
	p.mu.Unlock()
	retiredSet := setOf(retire)
	if len(retire) > 0 {
		p.logger.Info("the successor does not use these sockets: serving what is queued on them, then closing them", "sockets", names)
	}
	drained, stopping := make(chan struct{}), make(chan struct{})
	g.drained, g.stopping = drained, stopping
	before := g.before
	g.before = nil
	ret := &retirement{socks: retire}
	g.retired = ret // none before: a new round (resume) forgets them
	set := g.round
	go func() {
		timeout := p.drainTimeout()
		ctx, cancel := context.WithTimeout(context.Background(), drainLimitOf(timeout))
		quiesce(ctx, qs, p.logger)
		cancel()
		if final {
			p.closeSockets()
		}
		stops := make([]func() error, len(g.units))
		var drains []func() // every listener is turned away before any drain starts
		var retiredRounds []*round
		served := make(map[*socket]bool, len(g.units)) // the sockets of servers
		for _, u := range g.units {
			if u.srv != nil && u.sock != nil {
				served[u.sock] = true
			}
		}
		early := slices.DeleteFunc(slices.Clone(retire), func(s *socket) bool {
			return p.keptBySystemd(s) || !served[s]
		})
		for i, u := range g.units {
			ctx := context.Background()
			retired := final || u.sock != nil && retiredSet[u.sock]
			switch {
			case !retired || u.sock != nil && p.keptBySystemd(u.sock):
				ctx = withHandingOver(ctx) // a successor, or systemd, serves its queue
			case u.sock != nil && quiesced[u.sock]:
				ctx = withQueueServed(ctx) // served above
			}
			if u.srv != nil {
				// Shutdown, in two steps, so that a rollback serves again
				// only once this round's stop has begun, and the wait is
				// for this round, not the next. A retired socket's server
				// is final only at a final stop: a rollback may serve it
				// again.
				rd, d, drain := u.srv.stopAccepting(final && !HandingOver(ctx), queueServed(ctx))
				if drain != nil {
					drains = append(drains, drain)
				}
				stops[i] = func() error { return u.srv.awaitStop(ctx, rd, d) }
				if retired && !final {
					retiredRounds = append(retiredRounds, rd)
				}
				continue
			}
			stops[i] = func() error {
				if timeout > 0 {
					// A Server bounds its own drain; another service is
					// given the servers' bound through ctx.
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, timeout)
					defer cancel()
				}
				return p.shutdownService(ctx, u.svc, set.returned[i])
			}
		}
		for _, drain := range drains {
			go drain()
		}
		// The retired sockets only servers use close once their servers
		// have closed their listeners (see retirement).
		for _, rd := range retiredRounds {
			<-rd.drainCh
		}
		ret.close(p, early)
		close(stopping)
		var wg sync.WaitGroup
		for i, u := range g.units {
			wg.Go(func() {
				if err := stops[i](); err != nil {
					p.logger.Warn("shutdown cut work in progress", "service", describeService(u.svc), "error", err)
				}
			})
		}
		wg.Wait()
		ret.close(p, ret.socks)
		if before != nil {
			<-before // the round before the rollback
		}
		sum := p.countDrains(g.units)
		level := slog.LevelInfo
		if sum.CutConns > 0 || sum.CutRequests > 0 {
			level = slog.LevelWarn
		}
		p.logger.Log(context.Background(), level, "drained", "units", len(g.units), "final", final,
			"took", sum.Duration.Round(time.Millisecond), "served_while_draining", sum.ServedWhileDraining,
			"idle_closed", sum.IdleClosed, "hijacked_closed", sum.HijackedClosed,
			"cut_conns", sum.CutConns, "cut_requests", sum.CutRequests)
		close(drained)
	}()
}

// shutdownService calls svc.Shutdown(ctx) and then waits for its Serve
// to return (returned is closed), each at most serviceGrace past its
// contract: past ctx's end for Shutdown, past Shutdown's return for
// Serve. A service that overstays is logged and left behind.
func (p *Process) shutdownService(ctx context.Context, svc Service, returned <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- svc.Shutdown(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(serviceGrace):
			p.logger.Error("a service's Shutdown did not return once its context ended; the drain goes on without it",
				"service", describeService(svc), "waited", serviceGrace)
			return ctx.Err()
		}
	}
	select {
	case <-returned:
	case <-time.After(serviceGrace):
		p.logger.Error("a service's Serve did not return once its Shutdown had; the drain goes on without it",
			"service", describeService(svc), "waited", serviceGrace)
	}
	return err
}

// close closes socks, retired sockets of this drain, unless a rollback
// has taken them back.
func (ret *retirement) close(p *Process, socks []*socket) {
	var closed []*socket
	var names []string
	p.mu.Lock()
	for _, s := range socks {
		if !ret.taken && s.fd >= 0 {
			s.close()
			closed = append(closed, s)
			names = append(names, s.name)
		}
	}
	p.mu.Unlock()
	for _, s := range closed {
		p.unstoreSocket(s)
	}
	if len(closed) > 0 {
		p.logger.Info("closed the sockets the successor does not use", "sockets", names)
	}
}

// serverOf returns the unit of the server that serves s, if any.
func (g *localGen) serverOf(s *socket) *unit {
	for _, u := range g.units {
		if u.srv != nil && u.sock == s {
			return u
		}
	}
	return nil
}

// release closes this process's descriptors of the sockets its
// successor took, once no rollback can serve them again: should the
// successor die, connections are refused at once rather than queued on a
// socket nobody accepts from, and the address is free for a fresh start.
// (The drain closes the retired ones.)
func (g *localGen) release() {
	p := g.p
	var retired []*socket // the drain closes those
	if g.retired != nil {
		retired = g.retired.socks
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	closeSockets(p.socks.owned, retired)
}

// resume serves again after a drain that handed over (a rollback): a new
// round on the same sockets, for the same servers; a service takes fresh
// listeners in its Resume. The drain of the round before goes on.
func (g *localGen) resume() error {
	p := g.p
	if g.stopping != nil {
		<-g.stopping
	}
	var errs []error
	unbound := map[*socket]bool{} // retired sockets that could not be bound again
	p.mu.Lock()
	if ret := g.retired; ret != nil {
		ret.taken = true
		for _, s := range ret.socks {
			if s.fd >= 0 && (s.packet || listenAgain(s.fd)) {
				continue // still open: it serves again as it is
			}
			// Closed (or a unix socket, shut down for good): bind it
			// again, on the port it had (which an address with port 0
			// left open), with the permissions its server asked for.
			s.close()
			ep, perm := s.ep, socketPerm{}
			ep.address = s.addr.String()
			if u := g.serverOf(s); u != nil {
				perm = u.cfg.socketPerm()
			}
			if fresh, err := bindSocket(ep, perm); err != nil {
				errs = append(errs, fmt.Errorf("bind %s again: %w", s.name, err))
				unbound[s] = true
			} else {
				s.fd, s.addr = fresh.fd, fresh.addr
			}
		}
	}
	g.retired = nil
	for _, u := range g.units {
		if u.sock == nil || unbound[u.sock] {
			continue
		}
		ln, err := u.sock.listener()
		if err == nil {
			err = u.srv.resume(ln)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Unlock()
	// Resume runs without p.mu: a service takes its fresh listeners from
	// Process.Listen there.
	for _, u := range g.units {
		if u.sock == nil {
			if err := u.svc.(ResumableService).Resume(); err != nil {
				errs = append(errs, fmt.Errorf("resume %s: %w", describeService(u.svc), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.stopping.Store(false)
	before := g.drained
	g.serve()
	g.before = before
	return nil
}

// canResume reports whether every unit can serve again after its
// shutdown, which a rollback needs.
func (g *localGen) canResume() bool {
	for _, u := range g.units {
		// One made by NewServer (u.sock set) is served again as the same
		// *Server.
		if _, ok := u.svc.(ResumableService); u.sock == nil && !ok {
			return false
		}
	}
	return true
}

func describeService(svc Service) string {
	if s, ok := svc.(*Server); ok {
		return s.describe()
	}
	return fmt.Sprintf("%T", svc)
}

// keptBySystemd reports whether systemd keeps s beyond this process:
// socket activation, or the file-descriptor store.
func (p *Process) keptBySystemd(s *socket) bool {
	return s.from == "systemd" || s.fdName != "" || p.fdStoreActive()
}

// drainLimit bounds how long a drain of this process's servers and
// services may take: the longest shutdown timeout, with a second of
// margin.
func (p *Process) drainLimit() time.Duration { return drainLimitOf(p.drainTimeout()) }

// boundedDrainLimit bounds how long this process may take to drain and
// exit once it drains (a handover's drain or a final stop, after the
// shutdown delay): what is queued on its sockets served, then every
// server and service shut down, each within drainLimit. It is 0 when the
// drain has no bound (a server without a GracefulShutdownTimeout).
// Another process that waits for this one longer than that takes it for
// stopped or wedged, and kills it.
func (p *Process) boundedDrainLimit() time.Duration {
	p.mu.Lock()
	for _, u := range p.units {
		if u.srv != nil && u.srv.config.GracefulShutdownTimeout <= 0 {
			p.mu.Unlock()
			return 0
		}
	}
	p.mu.Unlock()
	if d := p.drainTimeout(); d > 0 {
		return 2 * drainLimitOf(d)
	}
	return 0
}

// drainLimitOf is drainLimit for a drain timeout of d.
func drainLimitOf(d time.Duration) time.Duration { return max(5*time.Second, d+time.Second) }

// drainTimeout is the longest a drain of this process's servers and
// services may take, which bounds the Shutdown of a service added with
// Add: the longest GracefulShutdownTimeout of its servers, or
// DefaultGracefulShutdownTimeout when it has none; 0 (no limit) when
// none of its servers has one.
func (p *Process) drainTimeout() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, servers := time.Duration(0), false
	for _, u := range p.units {
		if u.srv != nil {
			servers = true
			d = max(d, u.srv.config.GracefulShutdownTimeout)
		}
	}
	if !servers {
		return DefaultGracefulShutdownTimeout
	}
	return d
}
