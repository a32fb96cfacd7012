package graceful

import (
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connTracker is the set of a server's connections. A connection joins it
// when net/http reports it new and leaves when it closes or is hijacked;
// what the drain needs to know of each is kept in the conn itself, so
// that serving a request costs no lookup.
type connTracker struct {
	// draining gates notify, so that serving pays nothing for it.
	draining atomic.Bool

	mu        sync.Mutex
	conns     map[*conn]struct{}
	hijacked  map[*conn]struct{}
	pruneNext int           // prune closed hijacked connections at this size
	changed   chan struct{} // closed and replaced at every change while draining
}

func newConnTracker() *connTracker {
	return &connTracker{
		conns:     make(map[*conn]struct{}),
		hijacked:  make(map[*conn]struct{}),
		pruneNext: 64,
		changed:   make(chan struct{}),
	}
}

func (t *connTracker) add(c *conn) {
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *connTracker) remove(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	// The close of a connection the drain closed itself tells the drain
	// nothing new: it counted it closed already. Waking it for each of
	// thousands of such closes would make it look at every connection
	// thousands of times.
	if !c.closedByDrain.Load() {
		t.notify()
	}
}

func (t *connTracker) hijack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.hijacked[c] = struct{}{}
	if len(t.hijacked) >= t.pruneNext {
		t.pruneHijackedLocked()
		t.pruneNext = max(64, 2*len(t.hijacked))
	}
	t.mu.Unlock()
	t.notify()
}

// notify wakes whoever waits in changes, while the server drains.
func (t *connTracker) notify() {
	if !t.draining.Load() {
		return
	}
	t.mu.Lock()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// changes returns a channel that is closed at the next change.
func (t *connTracker) changes() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

func (t *connTracker) snapshot() []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		out = append(out, c)
	}
	return out
}

// pruneHijackedLocked forgets hijacked connections that their handlers
// have closed. Amortised over insertions, it keeps the set from growing
// with every WebSocket a long-running server ever served.
func (t *connTracker) pruneHijackedLocked() int {
	for c := range t.hijacked {
		if connClosed(c.raw) {
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
		if !connClosed(c.raw) {
			// A TLS close_notify must not block the shutdown on a
			// client that stopped reading.
			_ = c.raw.SetDeadline(time.Now())
			_ = c.Conn.Close()
			n++
		}
		delete(t.hijacked, c)
	}
	return n
}

// connClosed reports whether c has been closed, when it can tell. A
// connection whose type hides its file descriptor counts as open.
func connClosed(c any) bool {
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

// connKind is what the drain sees of a connection.
type connKind int

const (
	kindNew      connKind = iota // accepted, nothing read yet
	kindIdle                     // between requests, nothing of the next one read
	kindActive                   // reading a request or running a handler
	kindHTTP2                    // an HTTP/2 connection
	kindHijacked                 // taken over by a handler
)

// kind classifies c. With probe, it also looks at the socket's receive
// queue (a system call), as the drain does before it closes an idle
// connection; without, it reports what net/http and the conn know.
func (c *conn) kind(probe bool) connKind {
	switch c.proto.Load() {
	case protoHTTP2:
		return kindHTTP2
	case protoHijacked:
		return kindHijacked
	}
	st := http.ConnState(c.state.Load())
	if st == http.StateActive {
		return kindActive
	}
	if c.framingLost.Load() || c.begun.Load() > c.done.Load() {
		// Part of a request has arrived: net/http reports such a
		// connection idle (or new) until the whole header is in.
		return kindActive
	}
	if c.tls != nil {
		if c.proto.Load() == protoUnknown {
			if c.rawRead.Load() > 0 {
				return kindActive // in its handshake
			}
		} else if !c.reading.Load() || c.rawRead.Load() != c.quietMark.Load() {
			// net/http is busy with what it read, or ciphertext
			// arrived since it began to wait.
			return kindActive
		}
	}
	if probe && pendingBytes(c.raw) > 0 {
		return kindActive
	}
	if st == http.StateNew {
		return kindNew
	}
	return kindIdle
}

// connCounts is a snapshot of the tracked connections by kind.
type connCounts struct {
	new, active, idle, http2 int
}

func (t *connTracker) counts() connCounts {
	var n connCounts
	for _, c := range t.snapshot() {
		switch c.kind(false) {
		case kindNew:
			n.new++
		case kindIdle:
			n.idle++
		case kindActive:
			n.active++
		case kindHTTP2:
			n.http2++
		}
	}
	return n
}

// idleResult is what one pass of closeIdleHTTP1 did and found.
type idleResult struct {
	closedNew, closedIdle int       // connections closed, by kind
	remaining             int       // HTTP/1 connections still open
	next                  time.Time // when to look again (zero: at the next change)
}

// closeIdleHTTP1 closes the HTTP/1 connections that have been idle (or
// new without a byte of a request) for their grace since the later of
// the moment they went idle and start (when the drain began). A
// connection is idle only when nothing of a next request has arrived:
// not in net/http's buffer, not in the TLS layer, not in the socket's
// receive queue.
//
// A connection idle when the drain began is due its grace after start,
// later by its place in the spread (see spreadIdle), but never later than
// ceiling after start.
func (t *connTracker) closeIdleHTTP1(start, now time.Time, grace func(*conn) time.Duration, ceiling time.Duration) idleResult {
	var r idleResult
	wake := func(at time.Time) {
		if r.next.IsZero() || at.Before(r.next) {
			r.next = at
		}
	}
	for _, c := range t.snapshot() {
		k := c.kind(false)
		switch k {
		case kindHTTP2, kindHijacked:
			continue
		case kindActive:
			r.remaining++
			if http.ConnState(c.state.Load()) != http.StateActive {
				// Bytes that are not a whole request header yet: no
				// event may come if they never become one (a TLS
				// alert), so look again soon.
				wake(now.Add(activeRecheck))
			}
			continue
		}
		g := grace(c)
		since := time.Unix(0, c.idleSince.Load())
		due := since.Add(g)
		if since.Before(start) { // idle when the drain began
			due = start.Add(max(g, min(c.spread+g, ceiling)))
		}
		if now.Before(due) {
			r.remaining++
			wake(due)
			continue
		}
		// Due: a last look at the socket's receive queue (a system call,
		// so only now).
		if c.kind(true) == kindActive {
			r.remaining++
			wake(now.Add(activeRecheck))
			continue
		}
		c.closedByDrain.Store(true)
		_ = c.Conn.Close()
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		if k == kindNew {
			r.closedNew++
		} else {
			r.closedIdle++
		}
	}
	// Wake at most once a millisecond: closes due within it are done in
	// one pass.
	if !r.next.IsZero() && r.next.Sub(now) < time.Millisecond {
		r.next = now.Add(time.Millisecond)
	}
	return r
}

// spreadIdle gives each connection idle when the drain begins an offset
// within window, in equal steps, so that their closing (and their
// clients' reconnecting to the new generation) is spread over it.
func (t *connTracker) spreadIdle(window, perConn time.Duration) {
	var idle []*conn
	for _, c := range t.snapshot() {
		if k := c.kind(false); k == kindIdle || k == kindNew {
			idle = append(idle, c)
		}
	}
	window = min(window, perConn*time.Duration(len(idle)))
	for i, c := range idle {
		c.spread = window * time.Duration(i) / time.Duration(len(idle))
	}
}

// activeRecheck is how soon the drain looks again at a connection that
// has sent bytes that are not yet a request.
const activeRecheck = 50 * time.Millisecond
