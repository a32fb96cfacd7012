package graceful

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Server serves every connection through a conn, a wrapper of its own
// that net/http reads and writes: it is how the drain knows, for each
// connection, what net/http cannot tell it.
//
//   - HTTP/1: how many requests the client has begun to send (see
//     h1Framer) and how many net/http has answered, so that a connection
//     whose next request is pipelined or still arriving is never taken
//     for idle; and the start of each response, where a draining server
//     adds "Connection: close".
//   - HTTP/2: the frames the server writes, so that the drain notice can
//     go out between two of them, and the frames the client sends, so
//     that the final GOAWAY waits until the client has acknowledged the
//     notice (see http2.go).
//
// TLS is terminated here, not by net/http: net/http serves HTTP/2 only
// on a *tls.Conn it handshakes itself or, with
// [http.Protocols.SetUnencryptedHTTP2], on a connection that is not one,
// which is what a conn is. Both Go releases this package supports serve
// HTTP/2 through their own net/http that way; nothing depends on how
// golang.org/x/net wraps it. net/http then sets no [http.Request.TLS]:
// the Server sets it (see round.ServeHTTP). The conn has no ConnectionState
// method on purpose: net/http would read it before the handshake, and
// take the connection for one that cannot speak HTTP/2.
type conn struct {
	net.Conn // what net/http reads and writes: the accepted connection, or TLS over it

	srv *Server
	rd  *round    // the round of serving that accepted it
	raw net.Conn  // the accepted connection
	tls *tls.Conn // nil for plain HTTP

	proto       atomic.Int32  // protoUnknown until known (after the TLS handshake)
	state       atomic.Int32  // the http.ConnState net/http last reported
	idleSince   atomic.Int64  // when it last went idle, in Unix nanoseconds, while draining
	begun       atomic.Uint64 // HTTP/1 requests whose first byte has been read
	done        atomic.Uint64 // HTTP/1 requests answered
	framingLost atomic.Bool   // the HTTP/1 framer lost track: assume a request is pending
	closeSent   atomic.Bool   // a response told the client to close
	// closedByDrain: the drain closed it as idle (see connTracker.remove).
	closedByDrain atomic.Bool
	// interrupt: the drain found it idle and woke its reader to decide
	// (see wake). While its round drains, readDeadline is the read
	// deadline net/http last asked for (deadlineSet: it has asked since
	// the drain began), put back when the reader finds a request. dlMu
	// orders the reader's and the drain's deadlines, and guards both.
	interrupt    atomic.Bool
	dlMu         sync.Mutex
	readDeadline time.Time
	deadlineSet  bool

	// Under TLS: ciphertext bytes read from the socket, their count when
	// net/http last began to wait for more, and whether it waits now.
	// A connection on which net/http waits and nothing has arrived since
	// holds nothing of a request in the TLS layer.
	rawRead   atomic.Int64
	quietMark atomic.Int64
	reading   atomic.Bool

	// Reader side: net/http's goroutine of the connection (for HTTP/2,
	// its frame reader).
	handshook bool
	mode      int32 // proto, as the reader sees it
	h1        h1Framer
	tlsState  *tls.ConnectionState

	// Writer side, HTTP/1: the next write starts a response.
	respStart bool

	// HTTP/2, set by the reader before proto says protoHTTP2.
	h2 *h2Conn

	// spread is how long after the others this connection, idle when the
	// drain began, is closed; grace, once known, how long it may stay
	// idle, and answered when it last sent data, as the kernel tells
	// (see Server.idleGrace). The drain's goroutine's alone.
	spread, grace time.Duration
	answered      time.Time
}

const (
	protoUnknown int32 = iota
	protoHTTP1
	protoHTTP2
	protoHijacked
)

// NetConn returns the connection the client opened, under TLS if any,
// for handlers of hijacked connections that need it.
func (c *conn) NetConn() net.Conn { return c.raw }

// wake has c's reader decide whether c, which the drain found idle, is:
// a read deadline in the past ends the read it waits in, and interrupted
// decides as that read returns. The drain cannot decide alone: a request
// the reader has taken from the socket but not yet counted (between its
// read and the framer, for as long as a busy machine leaves it off a
// CPU) is in neither the socket nor the counts. A connection the reader
// finds idle it closes itself, on its own goroutine.
func (c *conn) wake() {
	c.dlMu.Lock()
	c.interrupt.Store(true)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
	c.dlMu.Unlock()
}

// interrupted ends a read the drain interrupted (see wake), with what the
// read returned. A read that returned bytes, or that ended on the
// deadline with bytes waiting (in the socket; under TLS, read from it
// since net/http began to wait), is of a request: the read deadline
// net/http asked for goes back, and a read that returned nothing is made
// again. One that ended on the deadline with nothing waiting finds the
// connection idle, and closes its socket at once: a request that arrives
// after the look at the socket's queue is reset, so the two are as close
// together as they can be (a TLS connection gets no close_notify, which
// HTTP/1 does not need). net/http ends the connection on the error.
func (c *conn) interrupted(p []byte, n int, err error) (int, error) {
	timedOut := n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
	if timedOut && c.quiet() {
		_ = c.raw.Close()
		c.closedByDrain.Store(true)
		c.rd.conns.closedIdle(http.ConnState(c.state.Load()) == http.StateNew)
		return n, err
	}
	c.dlMu.Lock()
	c.interrupt.Store(false)
	dl := c.readDeadline
	if !c.deadlineSet {
		dl = c.assumedDeadline()
	}
	_ = c.Conn.SetReadDeadline(dl)
	c.dlMu.Unlock()
	if timedOut {
		return c.read(p)
	}
	return n, err
}

// quiet reports, on the reader's goroutine after a read that returned
// nothing, whether nothing of a request has come: none is being served or
// has begun (the drain looked before it woke the reader, and one may have
// begun since, which the deadline must not end), no ciphertext has
// arrived since the read began, and the socket holds nothing.
func (c *conn) quiet() bool {
	if http.ConnState(c.state.Load()) == http.StateActive || c.framingLost.Load() || c.begun.Load() > c.done.Load() {
		return false
	}
	if c.tls != nil && c.rawRead.Load() != c.quietMark.Load() {
		return false
	}
	return pendingBytes(c.raw) == 0
}

// SetReadDeadline sets the read deadline net/http asks for. net/http
// sets one several times a request; until its round drains, the conn
// only passes it on. While it drains, the conn records it (see
// interrupted), and holds it back while the drain has woken the reader
// (see wake), which puts it in place once it has decided.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.rd.draining.Load() {
		return c.setReadDeadlineDraining(t)
	}
	// A drain that begins now and wakes the reader before this deadline
	// is set loses its wake; the drain wakes a connection that stays
	// idle again (see wakeRecheck).
	return c.Conn.SetReadDeadline(t)
}

// setReadDeadlineDraining is SetReadDeadline while the round drains.
func (c *conn) setReadDeadlineDraining(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readDeadline, c.deadlineSet = t, true
	if c.interrupt.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// assumedDeadline is the read deadline to put back for a reader that
// finds a request when net/http has set none since the drain began (see
// interrupted): the one net/http sets where the reader is, counted from
// now, so later than the one it set but as bounded. A reader inside a
// request reads its body under ReadTimeout; any other waits for a
// request's first bytes or its header, as net/http bounds once they come.
func (c *conn) assumedDeadline() time.Time {
	d := c.srv.firstByteTimeout()
	if http.ConnState(c.state.Load()) == http.StateActive {
		d = c.srv.config.ReadTimeout
	}
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// SetDeadline sets both deadlines, as SetReadDeadline the read one.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// cut closes c's socket at once: a connection cut at the end of a drain
// gets no TLS close_notify, which could wait on its client.
func (c *conn) cut() { _ = c.raw.Close() }

// connOf returns the conn of a connection net/http reports on.
func connOf(nc net.Conn) *conn {
	c, _ := nc.(*conn)
	return c
}

// newConn wraps a connection the server accepted.
func (s *Server) newConn(rd *round, nc net.Conn, tlsConfig *tls.Config) net.Conn {
	c := &conn{srv: s, rd: rd, raw: nc, respStart: true}
	if tlsConfig == nil {
		if tc, ok := nc.(*tls.Conn); ok {
			// A listener of ServerConfig.Listeners that speaks TLS.
			c.Conn, c.tls, c.raw = tc, tc, tc.NetConn()
			return c
		}
		c.Conn = nc
		c.mode = protoHTTP1
		c.proto.Store(protoHTTP1)
		c.handshook = true
		return c
	}
	s.tickets.apply(tlsConfig, time.Now())
	c.tls = tls.Server(&countingConn{Conn: nc, n: &c.rawRead}, tlsConfig)
	c.Conn = c.tls
	// The handshake runs in the first Read. net/http sets no read
	// deadline before it reads an HTTP/2 preface, so the conn bounds the
	// handshake and the first request itself.
	if d := s.firstByteTimeout(); d > 0 {
		_ = nc.SetDeadline(time.Now().Add(d))
	}
	return c
}

// firstByteTimeout bounds the TLS handshake and the client's preface.
func (s *Server) firstByteTimeout() time.Duration {
	if d := s.config.ReadHeaderTimeout; d > 0 {
		return d
	}
	return s.config.ReadTimeout
}

// countingConn counts the bytes read from a connection under TLS.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
	}
	return n, err
}

// Read reads what the client sent, performing the TLS handshake first.
func (c *conn) Read(p []byte) (int, error) {
	if c.mode == protoHTTP1 && c.tls == nil {
		// Plain HTTP/1, the most common case, in few instructions.
		n, err := c.Conn.Read(p)
		if n > 0 && !c.h1.lost {
			c.frame(p[:n])
		}
		if c.interrupt.Load() {
			return c.interrupted(p, n, err)
		}
		return n, err
	}
	return c.read(p)
}

func (c *conn) read(p []byte) (int, error) {
	if !c.handshook {
		if err := c.handshake(); err != nil {
			if c.interrupt.Load() { // woken in its handshake: nothing of a request came
				c.closedByDrain.Store(true)
				c.rd.conns.closedIdle(true)
			}
			return 0, err
		}
	}
	if c.h2 != nil {
		c.h2.beforeRead()
	}
	if c.tls != nil {
		c.quietMark.Store(c.rawRead.Load())
		c.reading.Store(true)
	}
	n, err := c.Conn.Read(p)
	if c.tls != nil {
		c.reading.Store(false)
	}
	if n > 0 {
		switch c.mode {
		case protoHTTP1:
			if !c.h1.lost {
				c.frame(p[:n])
			}
		case protoHTTP2:
			c.h2.afterRead(p[:n])
		}
	}
	if c.interrupt.Load() {
		return c.interrupted(p, n, err)
	}
	return n, err
}

// handshake performs the TLS handshake and learns the protocol from ALPN.
// frame feeds bytes read from an HTTP/1 client to its framer.
func (c *conn) frame(b []byte) {
	if k := c.h1.feed(b); k > 0 {
		c.begun.Add(uint64(k))
	}
	if c.h1.lost {
		c.framingLost.Store(true)
	}
}

func (c *conn) handshake() error {
	c.handshook = true
	if err := c.tls.Handshake(); err != nil {
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader[:]) {
			// Plain HTTP sent to an HTTPS port: say so, as net/http does.
			_ = rhe.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(rhe.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		c.mode = protoHTTP1
		c.h1.lost = true
		c.framingLost.Store(true)
		c.proto.Store(protoHTTP1)
		c.srv.logger.Debug("TLS handshake failed", "remote", c.raw.RemoteAddr().String(), "error", err)
		return err
	}
	st := c.tls.ConnectionState()
	c.tlsState = &st
	if st.NegotiatedProtocol == "h2" {
		c.h2 = newH2Conn(c)
		c.mode = protoHTTP2
		c.proto.Store(protoHTTP2)
		c.rd.h2.add(c)
		return nil
	}
	c.mode = protoHTTP1
	c.proto.Store(protoHTTP1)
	return nil
}

func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// Write writes the server's bytes. On HTTP/1, while the server drains,
// the first write of each response gets "Connection: close" after its
// status line, unless the client has already begun to send another
// request, which is then answered first. net/http does not know of the
// header and keeps reading: a request the client sent before it saw the
// header is still answered, and the connection ends when the client
// closes it or the drain finds it idle.
func (c *conn) Write(p []byte) (int, error) {
	if c.respStart {
		return c.writeResponseStart(p)
	}
	if c.h2 != nil {
		return c.h2.write(p)
	}
	return c.Conn.Write(p)
}

func (c *conn) writeResponseStart(p []byte) (int, error) {
	if c.mode != protoHTTP1 {
		c.respStart = false
		return c.Write(p)
	}
	// "HTTP/1.1 100 Continue" and other informational responses come
	// before the response.
	if len(p) > 9 && p[9] == '1' {
		return c.Conn.Write(p)
	}
	c.respStart = false
	if !c.rd.draining.Load() || !c.closeFits(p) {
		return c.Conn.Write(p)
	}
	i := 0
	for i+1 < len(p) && (p[i] != '\r' || p[i+1] != '\n') {
		i++
	}
	if i+1 >= len(p) {
		return c.Conn.Write(p)
	}
	const hdr = "Connection: close\r\n"
	b := make([]byte, 0, len(p)+len(hdr))
	b = append(b, p[:i+2]...)
	b = append(b, hdr...)
	b = append(b, p[i+2:]...)
	n, err := c.Conn.Write(b)
	c.closeSent.Store(true)
	switch {
	case n >= len(b):
		return len(p), err
	case n <= i+2:
		return n, err
	case n < i+2+len(hdr):
		return i + 2, err
	default:
		return n - len(hdr), err
	}
}

// closeFits reports whether a response starting with p may tell the
// client to close: it is an HTTP/1.1 response and the client has not
// begun to send another request behind the one being answered.
func (c *conn) closeFits(p []byte) bool {
	if len(p) < 9 || string(p[:9]) != "HTTP/1.1 " {
		return false // HTTP/1.0 closes unless asked not to: left to net/http
	}
	if c.framingLost.Load() || c.begun.Load() > c.done.Load()+1 {
		return false
	}
	return pendingBytes(c.raw) == 0
}

// ReadFrom lets net/http send a file with sendfile(2) on a plain TCP
// connection, as it does without the wrapper.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && c.tls == nil && !c.respStart {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c}, r)
}

type writerOnly struct{ io.Writer }

// CloseWrite shuts down the writing side, for net/http's lingering close.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connKey is the context key under which a request finds its conn.
type connKey struct{}

// connContext is installed as http.Server.ConnContext.
func connContext(ctx context.Context, nc net.Conn) context.Context {
	if c := connOf(nc); c != nil && c.tls != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// pendingBytes returns how many bytes wait unread in the socket's
// receive queue, or 0 when that cannot be told.
func pendingBytes(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n = socketInQueue(int(fd)) })
	return n
}

// listener is what a Server's http.Server accepts from: a bound or
// adopted listener whose connections it wraps.
type listener struct {
	net.Listener
	srv       *Server
	rd        *round
	tlsConfig *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		if l.rd.turnedAway.Load() {
			// Turned away by the drain (see turnAway): whatever error its
			// deadline made (os.ErrDeadlineExceeded, or a listener's own
			// timeout), net/http would retry it; this listener is done.
			return nil, net.ErrClosed
		}
		return nil, err
	}
	return l.srv.newConn(l.rd, nc, l.tlsConfig), nil
}

// connState is installed as http.Server.ConnState: the only hook net/http
// gives into a connection's life. It runs twice per HTTP/1 request
// (active, then idle) and costs a few atomic stores there. It is a
// function, not a method value of the round, which would cost a call
// more: a conn knows its round.
func connState(nc net.Conn, st http.ConnState) {
	c := connOf(nc)
	if c == nil {
		return
	}
	r := c.rd
	switch st {
	case http.StateNew:
		c.state.Store(int32(st))
		r.conns.add(c)
	case http.StateActive:
		c.state.Store(int32(st))
	case http.StateIdle:
		if c.mode == protoHTTP1 {
			c.done.Add(1)
			c.respStart = true
		}
		if r.conns.draining.Load() {
			c.idleSince.Store(time.Now().UnixNano())
		}
		c.state.Store(int32(st))
		r.conns.notify()
	case http.StateHijacked:
		c.mode = protoHijacked
		c.proto.Store(protoHijacked)
		c.respStart = false
		r.conns.hijack(c)
	case http.StateClosed:
		c.state.Store(int32(st))
		r.conns.remove(c)
		if c.h2 != nil {
			r.h2.remove(c)
		}
	}
}
