package graceful

import (
	"container/heap"
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

	// The connections the drain found idle (or new without a byte of a
	// request) and closed (see conn.wake).
	idleClosed, newClosed atomic.Int64
}

// closedIdle counts a connection the drain closed as idle, or as new.
func (t *connTracker) closedIdle(isNew bool) {
	if isNew {
		t.newClosed.Add(1)
	} else {
		t.idleClosed.Add(1)
	}
}

func newConnTracker() *connTracker {
	return &connTracker{
		// conns and hijacked are made on first use: a process with
		// thousands of servers, most of them idle, makes thousands of
		// trackers on its way to ready.
		pruneNext: 64,
		changed:   make(chan struct{}),
	}
}

func (t *connTracker) add(c *conn) {
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[*conn]struct{})
	}
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
	if t.hijacked == nil {
		t.hijacked = make(map[*conn]struct{})
	}
	t.hijacked[c] = struct{}{}
	if len(t.hijacked) >= t.pruneNext {
		t.pruneHijackedLocked()
		t.pruneNext = max(64, 2*len(t.hijacked))
	}
	t.mu.Unlock()
	t.notify()
}

// notify wakes whoever waits in changes, while the server drains. It is
// called at every change of every connection, so it costs one load (it
// is inlined) while the server serves.
func (t *connTracker) notify() {
	if t.draining.Load() {
		t.wakeWaiters()
	}
}

func (t *connTracker) wakeWaiters() {
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
			c.cut()
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

// idleResult is what one pass of an idleCloser did and found.
type idleResult struct {
	closedNew, closedIdle int       // connections closed, by kind
	remaining             int       // HTTP/1 connections still open
	next                  time.Time // when to look again (zero: at the next change)
}

// idleCloser closes a draining server's HTTP/1 connections that have
// been idle (or new without a byte of a request) for their grace since
// the later of the moment they went idle and start (when the drain
// began). A connection is idle only when nothing of a next request has
// arrived: not in net/http's buffer, not in the TLS layer, not in the
// socket's receive queue.
//
// A connection idle when the drain began is due its grace after start,
// later by its place in the spread (see spreadIdle), but never later than
// ceiling after start; and no connection is due sooner than floor after
// its last answer (when it went idle in the drain; before it, when the
// kernel tells, see Server.idleGrace).
//
// It keeps the connections it will look at again in a queue, soonest
// first, so that a pass on a timer costs what is due, not a look at every
// open connection: a drain that spreads the closing of thousands of idle
// connections over a second makes hundreds of such passes. A pass after a
// change (a connection went idle, closed or was hijacked) looks at every
// connection again. A connection serving a request is not in the queue:
// it changes (goes idle, closes or is hijacked) before it can be closed.
type idleCloser struct {
	t              *connTracker
	start          time.Time
	floor, ceiling time.Duration
	grace          func(*conn) time.Duration
	queue          dueQueue
	waiting        int // HTTP/1 connections not in the queue: serving a request
}

func newIdleCloser(t *connTracker, start time.Time, grace func(*conn) time.Duration, floor, ceiling time.Duration) *idleCloser {
	return &idleCloser{t: t, start: start, floor: min(floor, ceiling), ceiling: ceiling, grace: grace}
}

// pass closes the connections due at now: all of them after a change
// (full), otherwise those in the queue whose time has come.
func (ic *idleCloser) pass(now time.Time, full bool) idleResult {
	var r idleResult
	if full {
		clear(ic.queue) // no closed connection kept alive by the array
		ic.queue = ic.queue[:0]
		ic.waiting = 0
		for _, c := range ic.t.snapshot() {
			if at, ok := ic.look(c, now); ok {
				ic.queue = append(ic.queue, dueConn{at, c})
			}
		}
		heap.Init(&ic.queue)
	} else {
		for len(ic.queue) > 0 && !now.Before(ic.queue[0].at) {
			e := &ic.queue[0]
			if at, ok := ic.look(e.c, now); ok {
				e.at = at
				heap.Fix(&ic.queue, 0)
			} else {
				heap.Pop(&ic.queue)
			}
		}
	}
	r.remaining = ic.waiting + len(ic.queue)
	if len(ic.queue) > 0 {
		// Wake at most once a millisecond: closes due within it are done
		// in one pass.
		r.next = ic.queue[0].at
		if r.next.Sub(now) < time.Millisecond {
			r.next = now.Add(time.Millisecond)
		}
	}
	return r
}

// look closes c if it is due at now (see conn.wake). If it stays open to be looked at
// again at a time, it returns that time and true; a connection serving
// a request is counted in waiting instead, and one that is not HTTP/1
// is left alone.
func (ic *idleCloser) look(c *conn, now time.Time) (time.Time, bool) {
	if http.ConnState(c.state.Load()) == http.StateClosed {
		return time.Time{}, false
	}
	k := c.kind(false)
	switch k {
	case kindHTTP2, kindHijacked:
		return time.Time{}, false
	case kindActive:
		if http.ConnState(c.state.Load()) == http.StateActive {
			ic.waiting++
			return time.Time{}, false
		}
		// Bytes that are not a whole request header yet: no event may
		// come if they never become one (a TLS alert), so look again
		// soon.
		return now.Add(activeRecheck), true
	}
	g := ic.grace(c)
	since := time.Unix(0, c.idleSince.Load())
	last, due := since, since.Add(g) // its last answer, as far as the drain knows
	if since.Before(ic.start) {      // idle when the drain began
		last = c.answered // zero when the kernel does not tell
		due = ic.start.Add(max(g, min(c.spread+g, ic.ceiling)))
	}
	// Never sooner than the floor after its last answer: its client may
	// send the next request at once and yet be kept off a CPU (a load
	// generator on a busy machine, a container its CPU quota throttles,
	// a proxy between two bursts), and that request is then answered
	// with "Connection: close" instead of sent onto a closed connection.
	if late := last.Add(ic.floor); late.After(due) {
		due = late
	}
	if now.Before(due) {
		return due, true
	}
	// Due: a last look at the socket's receive queue (a system call, so
	// only now).
	if c.kind(true) == kindActive {
		return now.Add(activeRecheck), true
	}
	// Its reader decides, and net/http closes it if it is idle; it is
	// looked at again soon, in case the reader had not waited yet.
	c.wake()
	return now.Add(wakeRecheck), true
}

// wakeRecheck is how soon the drain looks again at a connection whose
// reader it woke (see conn.wake): closed by then, as a rule.
const wakeRecheck = time.Millisecond

// dueConn is a connection in an idleCloser's queue and when to look at
// it again.
type dueConn struct {
	at time.Time
	c  *conn
}

// dueQueue is a min-heap of dueConn by time (see container/heap).
type dueQueue []dueConn

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueConn)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = dueConn{} // the conn is not kept alive by the array
	*q = old[:len(old)-1]
	return e
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
