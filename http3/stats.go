package http3

import "sync/atomic"

// Stats are a Server's counters since its process started.
type Stats struct {
	// Generation is the generation of the process.
	Generation int
	// Connections accepted, and how their TLS handshakes went: full
	// handshakes, resumptions of an earlier session (from this or an
	// older generation), and connections that used 0-RTT.
	Connections, FullHandshakes, Resumed, Used0RTT uint64
	// ConnectionsDrained were closed during a drain with every request
	// answered; ConnectionsLost were closed by the drain's timeout with
	// RequestsLost requests in progress.
	ConnectionsDrained, ConnectionsLost, RequestsLost uint64
	// PacketsForwarded were routed to an older generation still draining;
	// PacketsPassedUp were passed to the newest generation;
	// PacketsForwardedIn came to this generation from a newer one;
	// PacketsDropped were dropped because a generation's queue was full.
	PacketsForwarded, PacketsPassedUp, PacketsForwardedIn, PacketsDropped uint64
}

type counters struct {
	connections, fullHandshakes, resumed, used0RTT atomic.Uint64
	drained, lost, requestsLost                    atomic.Uint64
	packetsForwarded, packetsPassedUp              atomic.Uint64
	packetsForwardedIn, packetsDropped             atomic.Uint64
}

// Stats returns the Server's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Generation:         int(s.mark.gen),
		Connections:        c.connections.Load(),
		FullHandshakes:     c.fullHandshakes.Load(),
		Resumed:            c.resumed.Load(),
		Used0RTT:           c.used0RTT.Load(),
		ConnectionsDrained: c.drained.Load(),
		ConnectionsLost:    c.lost.Load(),
		RequestsLost:       c.requestsLost.Load(),
		PacketsForwarded:   c.packetsForwarded.Load(),
		PacketsPassedUp:    c.packetsPassedUp.Load(),
		PacketsForwardedIn: c.packetsForwardedIn.Load(),
		PacketsDropped:     c.packetsDropped.Load(),
	}
}
