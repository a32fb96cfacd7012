package graceful

import "time"

// Stats is a snapshot of a server's connections and requests, for logs,
// health endpoints and tests. Take one with [Server.Stats].
type Stats struct {
	// Address is the address the server was created with (see
	// [Server.GetAddress]), which names it in metrics.
	Address string
	// InFlightRequests is the number of requests whose handler is
	// running.
	InFlightRequests int64
	// TotalRequests counts the requests served since the server started.
	TotalRequests uint64
	// NewConns are accepted connections that have not sent a request
	// yet; ActiveConns are reading a request or running a handler;
	// IdleConns wait for the next keep-alive request.
	NewConns, ActiveConns, IdleConns int
	// HijackedConns are connections taken over by handlers (WebSockets)
	// that are still open.
	HijackedConns int
	// Draining is true from the moment a shutdown begins.
	Draining bool
	// Drain describes the shutdown once it has finished.
	Drain DrainStats
}

// DrainStats tells what a finished shutdown did.
type DrainStats struct {
	// Finished is true once the server has stopped after serving.
	Finished bool
	// Duration is the time from the start of the shutdown to its end.
	Duration time.Duration
	// ServedWhileDraining counts requests that began after the shutdown
	// did, on connections that were already open.
	ServedWhileDraining uint64
	// IdleClosed counts keep-alive connections, and new ones that had
	// sent nothing, closed after staying idle for their idle grace (see
	// [ServerConfig.IdleDrainGrace]).
	IdleClosed int
	// HijackedClosed counts hijacked connections the server closed
	// because their handlers had not closed them in time.
	HijackedClosed int
	// CutConns counts connections closed while still busy when the
	// shutdown timed out or was cut short by Close; CutRequests counts
	// the requests that were running on them. Both are zero after a
	// shutdown that lost nothing.
	CutConns    int
	CutRequests int64
}

// Stats returns a snapshot of the server's connections and requests.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	r := s.rd
	s.mu.Unlock()
	c := r.conns.counts()
	st := Stats{
		Address:          s.address,
		InFlightRequests: s.inFlight.Load(),
		TotalRequests:    s.requests.Load(),
		NewConns:         c.new,
		ActiveConns:      c.active,
		IdleConns:        c.idle,
		HijackedConns:    r.conns.liveHijacked(),
		Draining:         r.draining.Load(),
	}
	select {
	case <-r.stopped:
		s.mu.Lock()
		st.Drain = r.drain.result
		s.mu.Unlock()
	default:
	}
	return st
}

// lastDrain returns what the last finished drain of the server did: that
// of its current round, or, when it serves again after a rollback, that
// of the round before.
func (s *Server) lastDrain() DrainStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rd.drain != nil && s.rd.drain.result.Finished {
		return s.rd.drain.result
	}
	if s.prev != nil && s.prev.drain != nil {
		return s.prev.drain.result
	}
	return DrainStats{}
}
