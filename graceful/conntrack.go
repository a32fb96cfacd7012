package graceful

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connInfo is what the server knows of one connection it serves.
type connInfo struct {
	state atomic.Int32 // an http.ConnState
	since atomic.Int64 // when it became new or idle, in Unix nanoseconds
	proto atomic.Int32 // protoUnknown, protoHTTP1 or protoHTTP2
}

const (
	protoUnknown int32 = iota
	protoHTTP1
	protoHTTP2
)

// connTracker follows every connection of a server through net/http's
// ConnState hook, so that the drain can tell idle connections from busy
// ones and hijacked connections are not forgotten. The hot path (a state
// change per request) is one lock-free map lookup and two atomic stores.
type connTracker struct {
	conns sync.Map // net.Conn -> *connInfo

	// changed receives a token whenever a connection goes idle or
	// closes during a drain, so that the drain loop wakes up without
	// polling; draining gates it, so that serving pays nothing for it.
	changed  chan struct{}
	draining atomic.Bool

	mu        sync.Mutex
	hijacked  map[net.Conn]struct{}
	pruneNext int // prune closed hijacked connections at this size
}

func newConnTracker() *connTracker {
	return &connTracker{
		changed:   make(chan struct{}, 1),
		hijacked:  make(map[net.Conn]struct{}),
		pruneNext: 64,
	}
}

// connState is installed as http.Server.ConnState. It runs twice per
// request (active, then idle): only the idle transition reads the clock,
// since only idleness is timed.
func (t *connTracker) connState(c net.Conn, st http.ConnState) {
	if hc, ok := c.(*h2Conn); ok {
		// The HTTP/2 server reports on its wrapper of the TLS
		// connection that net/http announced.
		c = hc.tlsConn
	}
	switch st {
	case http.StateNew:
		info := &connInfo{}
		info.state.Store(int32(st))
		info.since.Store(time.Now().UnixNano())
		t.conns.Store(c, info)
	case http.StateActive:
		if v, ok := t.conns.Load(c); ok {
			v.(*connInfo).state.Store(int32(st))
		}
	case http.StateIdle:
		if v, ok := t.conns.Load(c); ok {
			info := v.(*connInfo)
			info.since.Store(time.Now().UnixNano())
			info.state.Store(int32(st))
		}
		t.notify()
	case http.StateHijacked:
		t.conns.Delete(c)
		t.addHijacked(c)
		t.notify()
	case http.StateClosed:
		t.conns.Delete(c)
		t.notify()
	}
}

// markHTTP2 records that c speaks HTTP/2, once net/http has handed it
// to the HTTP/2 server (which it does without a ConnState call).
func (t *connTracker) markHTTP2(c net.Conn) {
	if v, ok := t.conns.Load(c); ok {
		info := v.(*connInfo)
		info.proto.Store(protoHTTP2)
		info.state.Store(int32(http.StateActive))
	}
	t.notify()
}

func (t *connTracker) notify() {
	if !t.draining.Load() {
		return
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *connTracker) addHijacked(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hijacked[c] = struct{}{}
	if len(t.hijacked) >= t.pruneNext {
		t.pruneHijackedLocked()
		t.pruneNext = max(64, 2*len(t.hijacked))
	}
}

// pruneHijackedLocked forgets hijacked connections that their handlers
// have closed. Amortised over insertions, it keeps the set from growing
// with every WebSocket a long-running server ever served.
func (t *connTracker) pruneHijackedLocked() int {
	for c := range t.hijacked {
		if connClosed(c) {
			delete(t.hijacked, c)
		}
	}
	return len(t.hijacked)
}

// liveHijacked returns the number of hijacked connections still open.
func (t *connTracker) liveHijacked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pruneHijackedLocked()
}

// closeHijacked closes every hijacked connection still open and returns
// how many it closed.
func (t *connTracker) closeHijacked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for c := range t.hijacked {
		if !connClosed(c) {
			// A TLS close_notify must not block the shutdown on a
			// client that stopped reading.
			_ = c.SetDeadline(time.Now())
			_ = c.Close()
			n++
		}
		delete(t.hijacked, c)
	}
	return n
}

// connClosed reports whether c has been closed, when it can tell. A
// connection whose type hides its file descriptor counts as open.
func connClosed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// connCounts is a snapshot of the tracked connections by state.
type connCounts struct {
	new, active, idle int
}

func (t *connTracker) counts() connCounts {
	var n connCounts
	t.conns.Range(func(_, v any) bool {
		switch http.ConnState(v.(*connInfo).state.Load()) {
		case http.StateNew:
			n.new++
		case http.StateActive:
			n.active++
		case http.StateIdle:
			n.idle++
		}
		return true
	})
	return n
}

// protocolOf tells whether a connection speaks HTTP/2, once that is known
// without blocking: a TLS connection's protocol is read only after its
// first request, when the handshake is over.
func protocolOf(c net.Conn, info *connInfo) int32 {
	if p := info.proto.Load(); p != protoUnknown {
		return p
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		info.proto.Store(protoHTTP1)
		return protoHTTP1
	}
	if http.ConnState(info.state.Load()) == http.StateNew {
		return protoUnknown
	}
	p := protoHTTP1
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		p = protoHTTP2
	}
	info.proto.Store(p)
	return p
}

// closeIdleHTTP1 closes the HTTP/1 connections that have been idle (or new
// without a request) for at least grace since the later of the moment
// they went idle and start (when the drain began). It returns how many it
// closed, how many HTTP/1 connections remain, and the earliest time at
// which a remaining idle connection will be due (zero if none).
func (t *connTracker) closeIdleHTTP1(start, now time.Time, grace time.Duration) (closed, remaining int, next time.Time) {
	t.conns.Range(func(k, v any) bool {
		c, info := k.(net.Conn), v.(*connInfo)
		if protocolOf(c, info) == protoHTTP2 {
			return true
		}
		st := http.ConnState(info.state.Load())
		if st != http.StateIdle && st != http.StateNew {
			remaining++
			return true
		}
		idleSince := time.Unix(0, info.since.Load())
		if idleSince.Before(start) {
			idleSince = start
		}
		due := idleSince.Add(grace)
		if !now.Before(due) {
			_ = c.Close()
			t.conns.Delete(c)
			closed++
			return true
		}
		remaining++
		if next.IsZero() || due.Before(next) {
			next = due
		}
		return true
	})
	return closed, remaining, next
}
