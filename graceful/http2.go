package graceful

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP/2 drains in two steps (RFC 9113, section 6.8). A single GOAWAY, as
// net/http sends at Shutdown, names the highest stream the server has
// read; a request the client has already sent but the server has not yet
// read is refused, and a client that does not retry (curl, h2load, a
// proxy) reports it as failed. So a draining server first sends a notice,
// a GOAWAY with the largest stream ID, which refuses nothing and tells
// the client to open no more streams, followed by a PING. The client
// answers the PING after it has read the notice, and sends nothing new
// after that answer; once net/http has read and processed every frame up
// to the answer, the final GOAWAY (net/http's Shutdown) names every
// stream the client opened. This is grpc-go's two-step GOAWAY, and it
// waits one round trip instead of a guess. A client that does not answer
// within [ServerConfig.IdleDrainGrace] gets the final GOAWAY anyway.
//
// net/http offers no way to send a frame of one's own, so the conn slips
// the notice between two of the server's frames as it writes them, and
// watches the frames the client sends for the answer.

// h2Conn is the HTTP/2 side of a conn.
type h2Conn struct {
	c *conn

	// Writer side: net/http's frame writer, or the drain sending the
	// notice.
	mu      sync.Mutex
	out     frameCursor // the server's frames written so far
	pending bool        // the notice waits for a frame boundary
	noticed bool        // the notice was written
	started bool        // net/http has begun to write

	// Reader side: net/http's frame reader.
	in      frameCursor
	preface int  // bytes of the client preface still to skip
	ackRead bool // Read returned the whole PING ACK
	pingN   int  // bytes of the current frame's payload compared
	isAck   bool // the current frame is a PING ACK

	noticeAt atomic.Int64 // when the notice was asked for, Unix nanoseconds
	acked    atomic.Bool  // net/http has processed the PING ACK and all before it
	late     atomic.Bool  // started after the final GOAWAY went out
}

func newH2Conn(c *conn) *h2Conn {
	return &h2Conn{c: c, preface: len(clientPreface)}
}

const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types and flags the drain uses.
const (
	frameGoAway = 0x7
	framePing   = 0x6
	flagAck     = 0x1
)

// drainNotice returns the notice: a GOAWAY with last stream 2^31-1 and no
// error, then a PING with the server's opaque data.
func drainNotice(data [8]byte) []byte {
	f := make([]byte, 0, 2*9+8+8)
	f = append(f, 0, 0, 8, frameGoAway, 0, 0, 0, 0, 0)
	f = binary.BigEndian.AppendUint32(f, 1<<31-1)
	f = binary.BigEndian.AppendUint32(f, 0) // NO_ERROR
	f = append(f, 0, 0, 8, framePing, 0, 0, 0, 0, 0)
	f = append(f, data[:]...)
	return f
}

// frameCursor follows the frame boundaries of an HTTP/2 byte stream.
type frameCursor struct {
	hdr    [9]byte
	hdrN   int // header bytes seen of the current frame
	remain int // payload bytes still to come of the current frame
	frames int // complete frames seen
}

// atBoundary reports whether the next byte starts a frame.
func (fc *frameCursor) atBoundary() bool { return fc.hdrN == 0 && fc.remain == 0 }

// advance moves the cursor over b and returns how many bytes it took:
// all of b, or, when stop is set, the bytes up to the end of the first
// frame that ends in b.
func (fc *frameCursor) advance(b []byte, stop bool) int {
	n := 0
	for n < len(b) {
		if fc.remain > 0 {
			k := min(fc.remain, len(b)-n)
			fc.remain -= k
			n += k
		} else {
			k := min(9-fc.hdrN, len(b)-n)
			copy(fc.hdr[fc.hdrN:], b[n:n+k])
			fc.hdrN += k
			n += k
			if fc.hdrN < 9 {
				continue
			}
			fc.hdrN = 0
			fc.remain = int(fc.hdr[0])<<16 | int(fc.hdr[1])<<8 | int(fc.hdr[2])
		}
		if fc.remain == 0 && fc.hdrN == 0 {
			fc.frames++
			if stop {
				return n
			}
		}
	}
	return n
}

// write writes the server's frames. A pending notice goes out at the
// first frame boundary after the server's first frame (its SETTINGS,
// which must come first).
func (h *h2Conn) write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out.frames == 0 && !h.started {
		// net/http's HTTP/2 server has registered the connection
		// before it writes anything.
		h.started = true
		set := h.c.rd.h2
		if set.final.Load() {
			h.late.Store(true)
		}
		if set.draining.Load() && !h.noticed && !h.pending {
			h.pending = true
			h.noticeAt.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	if !h.pending {
		n, err := h.c.Conn.Write(p)
		h.out.advance(p[:n], false)
		return n, err
	}
	written := 0
	for written < len(p) {
		if h.pending && h.out.atBoundary() && h.out.frames > 0 {
			if err := h.writeNoticeLocked(); err != nil {
				return written, err
			}
		}
		chunk := p[written:]
		if h.pending {
			probe := h.out
			chunk = chunk[:probe.advance(chunk, true)]
		}
		n, err := h.c.Conn.Write(chunk)
		h.out.advance(chunk[:n], false)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (h *h2Conn) writeNoticeLocked() error {
	h.pending = false
	h.noticed = true
	_, err := h.c.Conn.Write(drainNotice(h.c.rd.h2.ping))
	return err
}

// sendNotice asks for the drain notice: at once when the connection is
// between frames, else at the next frame boundary. It never blocks the
// drain on a client that does not read.
func (h *h2Conn) sendNotice(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.noticed || h.pending {
		return
	}
	h.noticeAt.CompareAndSwap(0, now.UnixNano())
	h.pending = true
	if h.out.atBoundary() && h.out.frames > 0 {
		go func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.pending && h.out.atBoundary() {
				_ = h.writeNoticeLocked()
			}
		}()
	}
}

// beforeRead runs as net/http's frame reader asks for more: once it has
// taken the whole PING ACK, net/http has processed that frame and every
// one before it (its reader reads the next frame only then).
func (h *h2Conn) beforeRead() {
	if h.ackRead && !h.acked.Load() {
		h.acked.Store(true)
		h.c.rd.conns.notify()
	}
}

// afterRead follows the client's frames in what Read returned, looking
// for the acknowledgement of the notice's PING.
func (h *h2Conn) afterRead(b []byte) {
	if h.preface > 0 {
		k := min(h.preface, len(b))
		h.preface -= k
		b = b[k:]
	}
	want := &h.c.rd.h2.ping
	for len(b) > 0 && !h.ackRead {
		if h.in.remain > 0 {
			k := min(h.in.remain, len(b))
			if h.isAck {
				for _, x := range b[:k] {
					if h.pingN < len(want) && x != want[h.pingN] {
						h.isAck = false
					}
					h.pingN++
				}
			}
			h.in.remain -= k
			b = b[k:]
			if h.in.remain == 0 && h.isAck && h.pingN == len(want) {
				h.ackRead = true
			}
			continue
		}
		k := min(9-h.in.hdrN, len(b))
		copy(h.in.hdr[h.in.hdrN:], b[:k])
		h.in.hdrN += k
		b = b[k:]
		if h.in.hdrN < 9 {
			continue
		}
		h.in.hdrN = 0
		hdr := h.in.hdr
		h.in.remain = int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		h.isAck = hdr[3] == framePing && hdr[4]&flagAck != 0 && h.in.remain == 8
		h.pingN = 0
	}
}

// h2Set is the HTTP/2 side of a server.
type h2Set struct {
	ping     [8]byte // the opaque data of the notice's PING
	tracker  *connTracker
	draining atomic.Bool // notices go out
	final    atomic.Bool // the final GOAWAY went out: later connections need a kick

	mu    sync.Mutex
	conns map[*conn]struct{}
}

func newH2Set(t *connTracker) *h2Set {
	set := &h2Set{conns: map[*conn]struct{}{}, tracker: t}
	_, _ = rand.Read(set.ping[:])
	return set
}

// add records an HTTP/2 connection once its handshake is done.
func (set *h2Set) add(c *conn) {
	set.mu.Lock()
	set.conns[c] = struct{}{}
	set.mu.Unlock()
	if set.draining.Load() {
		c.h2.sendNotice(time.Now())
	}
}

func (set *h2Set) remove(c *conn) {
	set.mu.Lock()
	delete(set.conns, c)
	set.mu.Unlock()
	set.tracker.notify()
}

func (set *h2Set) snapshot() []*conn {
	set.mu.Lock()
	defer set.mu.Unlock()
	out := make([]*conn, 0, len(set.conns))
	for c := range set.conns {
		out = append(out, c)
	}
	return out
}

// beginDrain sends the notice on every HTTP/2 connection, and on every
// one that starts from now on.
func (set *h2Set) beginDrain() {
	set.draining.Store(true)
	now := time.Now()
	for _, c := range set.snapshot() {
		c.h2.sendNotice(now)
	}
}

// waitAcked waits until every HTTP/2 connection still open has
// acknowledged the notice or had it out for grace, or ctx ends.
func (set *h2Set) waitAcked(ctx context.Context, grace time.Duration) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := set.tracker.changes()
		wait, ok := set.unacked(time.Now(), grace, false)
		if ok {
			return
		}
		timer.Reset(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// unacked reports whether every connection (with lateOnly, every late
// one) has acknowledged the notice or had it out for grace; if not, it
// returns how long until the next one's grace ends.
func (set *h2Set) unacked(now time.Time, grace time.Duration, lateOnly bool) (time.Duration, bool) {
	var next time.Duration = -1
	for _, c := range set.snapshot() {
		h := c.h2
		if h.acked.Load() || (lateOnly && !h.late.Load()) {
			continue
		}
		at := h.noticeAt.Load()
		if at == 0 {
			continue // never asked for: not draining when it started
		}
		left := time.Duration(at-now.UnixNano()) + grace
		if left <= 0 {
			continue
		}
		if next < 0 || left < next {
			next = left
		}
	}
	return next, next < 0
}

// kickLate sends the final GOAWAY again (kick) for the connections that
// started after it first went out, once they have acknowledged their
// notice or had it out for grace. It returns when ctx ends.
func (set *h2Set) kickLate(ctx context.Context, grace time.Duration, kick func()) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	kicked := map[*conn]bool{}
	for {
		changed := set.tracker.changes()
		var due []*conn
		for _, c := range set.snapshot() {
			if c.h2.late.Load() && !kicked[c] {
				due = append(due, c)
			}
		}
		wait := time.Hour
		if len(due) > 0 {
			if w, ok := set.unacked(time.Now(), grace, true); ok {
				for _, c := range due {
					kicked[c] = true
				}
				kick()
			} else {
				wait = w
			}
		}
		timer.Reset(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
