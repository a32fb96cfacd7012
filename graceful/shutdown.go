package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

var (
	errDrainTimeout = fmt.Errorf("graceful shutdown timeout passed: %w", context.DeadlineExceeded)
	errClosed       = errors.New("server closed by Close")
)

// drainState is one shutdown of a server, shared by every caller of
// Shutdown and Close.
type drainState struct {
	// cutCtx ends when the remaining connections must be cut: the
	// shutdown timeout passed, a Shutdown context ended or Close was
	// called. Its cause says which.
	cutCtx context.Context
	cut    context.CancelCauseFunc

	// handover: the drain leaves the sockets to another process (a
	// restart), and the server may serve another round (a rollback).
	handover bool

	// Set by the drain before the round's stopped channel closes.
	result      DrainStats
	cut4        connCounts // what was cut, by kind
	idle        idleResult // what the idle grace closed, by kind
	cause       error      // why connections were cut, if they were
	listenerErr error
}

// Shutdown stops the server gracefully and returns once it has stopped.
//
// The sequence loses no request that a client has sent. Every HTTP/1.1
// response whose header is written from then on carries "Connection:
// close", unless the client has already begun its next request on that
// connection, which is then answered first. The
// listeners stop accepting: on Linux, unless ctx comes from a restart
// (see [HandingOver]) or the socket was handed out with [Server.Fd],
// the socket first refuses new connections while the server accepts and
// answers those already queued, since closing a listener resets them.
// A keep-alive connection is closed only once it has been idle for its
// own grace, taken from its measured round trip, at most
// [ServerConfig.IdleDrainGrace] and never sooner than
// [ServerConfig.IdleDrainGraceMin] after its last answer, idle meaning
// that nothing of a next request has arrived (a pipelined request, or a
// header still arriving, is answered first); requests in
// flight run to completion; HTTP/2 clients get a first GOAWAY that
// refuses nothing and a PING, and the final GOAWAY once they have
// answered it; hijacked connections are told through [Draining] and
// closed once [ServerConfig.HijackedGrace] has passed and the other
// connections have drained.
//
// When [ServerConfig.GracefulShutdownTimeout] passes or ctx ends first,
// the connections still open are closed, the log says how many and how
// many requests they carried, and Shutdown returns an error wrapping
// [context.DeadlineExceeded] or ctx's error. It returns nil when nothing
// was cut. It may be called more than once, concurrently, and before
// Serve; every call waits for the same shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	rd, d := s.beginStop(!HandingOver(ctx), queueServed(ctx))
	return s.awaitStop(ctx, rd, d)
}

// awaitStop waits for the drain d of the round rd to end, and cuts it
// short when ctx ends (see Shutdown).
func (s *Server) awaitStop(ctx context.Context, rd *round, d *drainState) error {
	select {
	case <-rd.stopped:
	case <-ctx.Done():
		d.cut(context.Cause(ctx))
		<-rd.stopped
	}
	r := d.result
	if r.CutConns == 0 && r.CutRequests == 0 {
		return nil
	}
	return fmt.Errorf("graceful: shutdown of %s cut %d connections carrying %d requests: %w",
		s.describe(), r.CutConns, r.CutRequests, d.cause)
}

// Close stops the server at once: it closes the listeners and every
// connection, hijacked ones included, without waiting for requests in
// flight. When a graceful shutdown is under way, Close cuts it short.
// Close waits until the server has stopped, or until ctx ends, in which
// case it returns ctx's error. It may be called more than once,
// concurrently, and before Serve.
func (s *Server) Close(ctx context.Context) error {
	r, d := s.beginStop(false, false)
	d.cut(errClosed)
	select {
	case <-r.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("graceful: close %s: %w", s.describe(), ctx.Err())
	}
}

// Draining returns a channel that is closed when the server that is
// serving the request with context ctx begins to shut down. Handlers of
// long-lived streams and hijacked connections (WebSockets) select on it to
// say goodbye to their clients before [ServerConfig.HijackedGrace] runs
// out. It returns nil (a channel that never closes) for a context that
// does not come from a [Server].
func Draining(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(drainKey{}).(chan struct{})
	return ch
}

type drainKey struct{}

// beginStop starts the one shutdown of the server, or returns the one
// under way. final says whether no other process serves the listeners
// afterwards; served, that the caller has already served what was queued
// on them and made them refuse new connections (see quiesce.go).
func (s *Server) beginStop(final, served bool) (*round, *drainState) {
	r, d, drain := s.stopAccepting(final, served)
	if drain != nil {
		go drain()
	}
	return r, d
}

// stopAccepting is beginStop without starting the drain: drain, when not
// nil, is the rest of the shutdown, for the caller to run on a goroutine
// of its own. A process that stops many servers turns every listener away
// first and starts the drains after, so that the last listener does not
// wait for hundreds of goroutines to be made and scheduled.
func (s *Server) stopAccepting(final, served bool) (r *round, d *drainState, drain func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r = s.rd
	if r.drain != nil {
		return r, r.drain, nil
	}
	d = &drainState{}
	d.cutCtx, d.cut = context.WithCancelCause(context.Background())
	r.drain = d
	r.stopping = true
	// A socket handed out with Fd may be served by another process.
	final = final && s.fdFile == nil
	d.handover = !final
	if !r.serving {
		// Nothing was ever served: release what was bound and stop (after
		// a handover the unix socket files stay, for the successor).
		d.listenerErr = closeListeners(r.raw)
		if len(r.raw) == 0 {
			for _, ln := range s.config.Listeners {
				_ = ln.Close()
			}
		}
		close(r.drainCh)
		s.finishLocked(r)
		return r, d, nil
	}
	quiesce := final && !served
	if !quiesce {
		// Stop accepting now, not once the drain's goroutine runs: a
		// process stops its servers one after another, and with thousands
		// of them the last would go on taking the successor's connections
		// for as long as starting every drain takes.
		r.draining.Store(true)
		r.conns.draining.Store(true)
		r.turnedAway.Store(true)
		d.listenerErr = turnAway(r.raw)
	}
	return r, d, func() { s.runDrain(r, d, final, quiesce) }
}

// turnAway makes listeners stop accepting without waiting: one with a
// deadline (as net's are) gets one in the past, which wakes its Accept
// and fails every Accept from then on before it takes a connection; the
// drain closes it. Closing it here would wait until the goroutine in its
// Accept has run and returned, and a process stopping hundreds of
// servers would wait for each in turn. Another listener is closed.
func turnAway(raw []net.Listener) error {
	var errs []error
	for _, ln := range raw {
		if dl, ok := ln.(interface{ SetDeadline(time.Time) error }); ok && dl.SetDeadline(time.Unix(1, 0)) == nil {
			continue
		}
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runDrain performs a graceful shutdown of a serving round.
// quiesce: the server serves the queues of its listeners before it closes
// them; otherwise stopAccepting has turned them away, and they close here.
func (s *Server) runDrain(r *round, d *drainState, final, quiesce bool) {
	start := time.Now()
	if t := s.config.GracefulShutdownTimeout; t > 0 {
		timer := time.AfterFunc(t, func() { d.cut(errDrainTimeout) })
		defer timer.Stop()
	}
	// From here on every HTTP/1 response tells its client to close.
	r.draining.Store(true)
	r.conns.draining.Store(true)

	// 1. Stop accepting. After a restart the new generation serves the
	// queue; on a final stop the server serves it itself first (unless
	// its Process has done it for the sockets it holds).
	queueServed := 0
	if quiesce {
		queueServed = quiesceListeners(d.cutCtx, r.raw, s.logger)
	}
	if err := closeListeners(r.raw); err != nil {
		s.mu.Lock()
		d.listenerErr = errors.Join(d.listenerErr, err)
		s.mu.Unlock()
	}
	r.serveWG.Wait()

	// 2. Tell handlers and hijacked connections.
	close(r.drainCh)
	counts := r.conns.counts()
	s.logger.Log(context.Background(), s.infoLevel(), "shutdown started", "address", s.describe(), "final", final,
		"in_flight", s.inFlight.Load(), "active_conns", counts.active,
		"idle_conns", counts.idle+counts.new, "http2_conns", counts.http2,
		"hijacked_conns", r.conns.liveHijacked())
	if queueServed > 0 {
		s.logger.Debug("accepted the connections queued on the listeners before closing them", "address", s.describe(), "queued", queueServed)
	}

	hijackExpired := make(chan struct{})
	hijackTimer := time.AfterFunc(s.config.HijackedGrace, func() { close(hijackExpired) })
	defer hijackTimer.Stop()

	// 3. HTTP/2: the notice, a GOAWAY that refuses no stream, and a PING
	// (see http2.go).
	r.h2.beginDrain()

	// 4. HTTP/1: every connection ends after a response with
	// Connection: close, or after its idle grace.
	idle := s.drainHTTP1(r, d.cutCtx, time.Now())

	// 5. HTTP/2: once every client has answered the PING (so every
	// request it sent before the notice has been read), the final GOAWAY,
	// through net/http's Shutdown, which then waits for the streams.
	// Connections that start later get theirs once they have answered.
	r.h2.waitAcked(d.cutCtx, s.config.IdleDrainGrace)
	r.h2.final.Store(true)
	kickCtx, stopKick := context.WithCancel(d.cutCtx)
	go r.h2.kickLate(kickCtx, s.config.IdleDrainGrace, func() {
		// net/http runs its shutdown hooks (HTTP/2's final GOAWAY) on
		// every call; with a context that has ended it returns at once.
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		_ = r.http.Shutdown(ended)
	})
	if err := r.http.Shutdown(d.cutCtx); err != nil && d.cutCtx.Err() == nil {
		s.logger.Warn("net/http shutdown", "address", s.describe(), "error", err)
	}
	stopKick()

	// 6. Hijacked connections get their grace, then are closed.
	hijackedCut := s.drainHijacked(r, d.cutCtx, hijackExpired)

	// 7. Whatever is left is cut.
	var cut connCounts
	var cutRequests int64
	if d.cutCtx.Err() != nil {
		cut = r.conns.counts()
		cutRequests = s.inFlight.Load()
		// The sockets first: net/http's Close then finds them closed and
		// does not wait on a client to take a TLS close_notify.
		for _, c := range r.conns.snapshot() {
			c.cut()
		}
		_ = r.http.Close()
		hijackedCut += r.conns.closeHijacked()
	}

	s.mu.Lock()
	d.result = DrainStats{
		Finished:            true,
		Duration:            time.Since(start),
		ServedWhileDraining: r.drainedReq.Load(),
		IdleClosed:          idle.closedIdle + idle.closedNew,
		HijackedClosed:      hijackedCut,
		CutConns:            cut.new + cut.active + cut.idle + cut.http2,
		CutRequests:         cutRequests,
	}
	d.cut4 = cut
	d.idle = idle
	d.cause = context.Cause(d.cutCtx)
	s.logResult(d)
	s.finishLocked(r)
	s.mu.Unlock()
}

// drainHTTP1 waits until every HTTP/1 connection has closed, closing
// those that stay idle for their grace after start. It returns what it
// closed, and stops early when ctx ends.
func (s *Server) drainHTTP1(rd *round, ctx context.Context, start time.Time) idleResult {
	var total idleResult
	// The spread spans up to the ceiling: a connection's grace comes on
	// top of its place in it, within the ceiling, so every connection
	// idle when the drain began is closed within the ceiling (the floor
	// after its last answer, which came before the start, is too).
	ceiling := s.config.IdleDrainGrace
	rd.conns.spreadIdle(ceiling, reconnectCost)
	closer := newIdleCloser(rd.conns, start, s.idleGrace, s.config.IdleDrainGraceMin, ceiling)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	changed := rd.conns.changes()
	for full := true; ; {
		r := closer.pass(time.Now(), full)
		total.closedIdle, total.closedNew = int(rd.conns.idleClosed.Load()), int(rd.conns.newClosed.Load())
		if r.remaining == 0 {
			return total
		}
		var wake <-chan time.Time
		if !r.next.IsZero() {
			timer.Reset(time.Until(r.next))
			wake = timer.C
		}
		select {
		case <-changed:
		case <-wake:
		case <-ctx.Done():
			total.closedIdle, total.closedNew = int(rd.conns.idleClosed.Load()), int(rd.conns.newClosed.Load())
			return total
		}
		// After a change every connection is looked at again; on the
		// timer only those due. A change replaces the channel, so one
		// that comes at any time before the next pass is seen.
		next := rd.conns.changes()
		full, changed = next != changed, next
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// idleGrace is how long an idle connection may stay idle once the drain
// has begun (or, if later, once it went idle) before the server closes it
// (see ServerConfig.IdleDrainGrace): its measured round trip, at most the
// ceiling, with the floor counted from its last answer, which the kernel
// tells with the round trip (see idleCloser.look); where the kernel tells
// neither, the ceiling (a unix socket's peer, on this machine, the
// floor). A connection that has not sent its first request yet gets the
// ceiling: its client has just connected to send one, and a busy machine
// may delay it.
//
// The round trip is read from the kernel once per connection and drain:
// after every change the drain looks at every open connection again, and
// a system call for each of thousands of idle connections each time would
// take the CPU the new generation needs for their reconnects.
func (s *Server) idleGrace(c *conn) time.Duration {
	ceiling := s.config.IdleDrainGrace
	floor := min(s.config.IdleDrainGraceMin, ceiling)
	if floor == ceiling || http.ConnState(c.state.Load()) == http.StateNew {
		return ceiling
	}
	if c.grace == 0 {
		c.grace = ceiling
		if rtt, rttvar, sinceSent, ok := roundTrip(c.raw); ok {
			// The round trip alone: the floor counts from its last
			// answer (see idleCloser.look), which the kernel tells.
			c.grace = min(4*rtt+4*rttvar, ceiling)
			c.answered = time.Now().Add(-sinceSent)
		} else if c.raw.LocalAddr().Network() == "unix" {
			c.grace = floor // a peer on this machine: no round trip to wait for
		}
		// Otherwise a round trip nobody measured (a system without
		// TCP_INFO): the ceiling, which never races a client's next
		// request.
	}
	return c.grace
}

// reconnectCost is the share of the spread window (see spreadIdle) one
// idle connection gets: about the CPU time a client's reconnection costs
// both ends on this machine, so that the reconnections come no faster
// than about one core takes them. Measured with the bench's idle lane
// (clients that reconnect at once when closed, a steady client in a
// process of its own, 2 cores, 3 restarts each): with 20 µs, at 1,000
// and 5,000 idle connections, the steady client had 6 and 23 requests
// over 20 ms per restart; with 200 µs, 0 and 10. With TLS a larger share
// did not help: the handshakes take the CPU for about as long either
// way, and 1 ms (1 s for 1,000 connections) spread the slow requests
// over the whole second.
const reconnectCost = 200 * time.Microsecond

// hijackPoll is how often the drain checks whether hijacked connections
// have been closed by their handlers: net/http does not report it.
const hijackPoll = 20 * time.Millisecond

// drainHijacked waits for hijacked connections to be closed by their
// handlers, and closes those still open when expired is closed or ctx
// ends. It returns how many it closed.
func (s *Server) drainHijacked(r *round, ctx context.Context, expired <-chan struct{}) int {
	tick := time.NewTicker(hijackPoll)
	defer tick.Stop()
	for r.conns.liveHijacked() > 0 {
		select {
		case <-tick.C:
			continue
		case <-expired:
		case <-ctx.Done():
		}
		return r.conns.closeHijacked()
	}
	return 0
}

// closeListeners closes every listener of a round.
func closeListeners(raw []net.Listener) error {
	var errs []error
	for _, ln := range raw {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finishLocked releases what outlives the listeners and marks the round
// stopped. A round that handed over leaves the socket files to the
// process that serves them next, and Fd's duplicate to another round.
func (s *Server) finishLocked(r *round) {
	switch {
	case s.fdFile != nil:
		_ = s.fdFile.Close()
	case r.drain != nil && r.drain.handover:
	default:
		// No descriptor was handed out, so no other process can be
		// serving these paths: remove the socket files this server made.
		for _, p := range s.unlinkPaths {
			_ = os.Remove(p)
		}
	}
	r.status.Store(int32(ServerStatusStopped))
	close(r.stopped)
}

func (s *Server) logResult(d *drainState) {
	r := d.result
	level := s.infoLevel()
	msg := "shutdown finished"
	cut := r.CutConns > 0 || r.CutRequests > 0
	if cut {
		level = slog.LevelWarn
		msg = "shutdown finished by cutting connections"
	}
	attrs := []any{
		"address", s.describe(),
		"duration", r.Duration.Round(time.Millisecond),
		"served_while_draining", r.ServedWhileDraining,
		"idle_closed", r.IdleClosed,
		"hijacked_closed", r.HijackedClosed,
		"cut_conns", r.CutConns,
		"cut_requests", r.CutRequests,
	}
	if cut {
		attrs = append(attrs, "cause", d.cause,
			"cut_active", d.cut4.active, "cut_idle", d.cut4.idle,
			"cut_new", d.cut4.new, "cut_http2", d.cut4.http2)
	}
	if d.listenerErr != nil {
		attrs = append(attrs, "listener_error", d.listenerErr)
	}
	s.logger.Log(context.Background(), level, msg, attrs...)
}
