// x/net/http2's Server is deprecated in favour of net/http's own, which
// cannot serve a connection wrapper of ours (see below).
//
//lint:file-ignore SA1019 ServeConn on our own connection wrapper is the only way to send the drain notice.

package graceful

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 drains in two steps (RFC 9113, section 6.8). A single GOAWAY, as
// net/http sends at Shutdown, carries the highest stream the server has
// read; a request the client has already sent but the server has not yet
// read is refused, and a client that does not retry (curl, h2load, a
// proxy) reports it as failed. So a draining server first sends a GOAWAY
// with the largest stream ID, a notice that refuses nothing and tells the
// client to open no more streams on the connection; only after
// [ServerConfig.IdleDrainGrace], when every request sent before the
// notice has arrived, does it send the final GOAWAY that names the last
// stream it will process.
//
// net/http offers no way to send the notice, so the server serves HTTP/2
// with golang.org/x/net/http2 on a connection wrapper that can slip the
// notice's frame between two of the server's own frames.

// goAwayNotice is the first GOAWAY of a drain: last stream 2^31-1, no
// error.
var goAwayNotice = func() []byte {
	f := make([]byte, 9+8)
	f[2] = 8                                   // payload length
	f[3] = 0x7                                 // GOAWAY
	f[4] = 0                                   // no flags
	f[5] = 0                                   // stream 0 (4 bytes, zero)
	binary.BigEndian.PutUint32(f[9:], 1<<31-1) // last stream ID
	binary.BigEndian.PutUint32(f[13:], 0)      // NO_ERROR
	return f
}()

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

// h2Conn is an HTTP/2 connection of a [Server]: the TLS connection, seen by
// the HTTP/2 server through this wrapper so that the drain notice can be
// written between two frames.
type h2Conn struct {
	net.Conn           // the TLS connection, where frames are written
	tlsConn  *tls.Conn // the same, as net/http announced it

	mu       sync.Mutex
	out      frameCursor // the server's frames written so far
	pending  bool        // the notice waits for a frame boundary
	noticed  bool        // the notice was written (or given up on)
	announce time.Time   // when the drain asked for the notice
}

// ConnectionState is the TLS state, which the HTTP/2 server checks.
func (c *h2Conn) ConnectionState() tls.ConnectionState { return c.tlsConn.ConnectionState() }

// Write writes the server's bytes. When the drain notice is pending it
// goes out at the first frame boundary, after the server's first frame
// (its SETTINGS, which must come first).
func (c *h2Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pending {
		n, err := c.Conn.Write(p)
		c.out.advance(p[:n], false)
		return n, err
	}
	written := 0
	for written < len(p) {
		if c.pending && c.out.atBoundary() && c.out.frames > 0 {
			if err := c.writeNoticeLocked(); err != nil {
				return written, err
			}
		}
		chunk := p[written:]
		if c.pending {
			probe := c.out
			chunk = chunk[:probe.advance(chunk, true)]
		}
		n, err := c.Conn.Write(chunk)
		c.out.advance(chunk[:n], false)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (c *h2Conn) writeNoticeLocked() error {
	c.pending = false
	c.noticed = true
	_, err := c.Conn.Write(goAwayNotice)
	return err
}

// sendNotice asks for the drain notice: at once when the connection is
// between frames, else at the next frame boundary. It never blocks the
// drain on a client that does not read.
func (c *h2Conn) sendNotice(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noticed || c.pending {
		return
	}
	c.announce = now
	c.pending = true
	if c.out.atBoundary() && c.out.frames > 0 {
		go func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.pending && c.out.atBoundary() {
				_ = c.writeNoticeLocked()
			}
		}()
	}
}

// noticeDue returns when the connection's notice has been out for the
// grace, and false when no notice was asked for.
func (c *h2Conn) noticeDue(grace time.Duration) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.announce.IsZero() {
		return time.Time{}, false
	}
	return c.announce.Add(grace), true
}

// h2Set is the HTTP/2 side of a server: its connections and the server
// that speaks HTTP/2 on them.
type h2Set struct {
	srv *http2.Server

	mu       sync.Mutex
	conns    map[*h2Conn]struct{}
	draining bool
	// After the final GOAWAY, a connection that starts (its TLS
	// handshake was under way) gets the notice at once and the final
	// GOAWAY a grace later, from kick.
	final bool
	grace time.Duration
	kick  func()
}

// configureHTTP2 makes the server speak HTTP/2 on TLS connections that
// negotiate "h2", through the drain-aware connection wrapper.
func (s *Server) configureHTTP2(tlsConfig *tls.Config) error {
	if !slices.Contains(tlsConfig.NextProtos, http2.NextProtoTLS) {
		return nil // HTTP/1.1 only, as the configuration asks
	}
	set := &h2Set{srv: &http2.Server{}, conns: map[*h2Conn]struct{}{}}
	// ConfigureServer ties the HTTP/2 connections to the http.Server's
	// Shutdown, which sends the final GOAWAY.
	if err := http2.ConfigureServer(s.http, set.srv); err != nil {
		return fmt.Errorf("HTTP/2: %w", err)
	}
	s.http.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		s.serveHTTP2(set, hs, c, h)
	}
	s.h2 = set
	return nil
}

// serveHTTP2 serves one HTTP/2 connection until it closes.
func (s *Server) serveHTTP2(set *h2Set, hs *http.Server, c *tls.Conn, h http.Handler) {
	hc := &h2Conn{Conn: c, tlsConn: c}
	s.conns.markHTTP2(c)
	set.add(hc)
	defer set.remove(hc)
	// net/http passes the connection's base context through the
	// handler, as it does for its own HTTP/2 server.
	var ctx context.Context
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		ctx = bc.BaseContext()
	}
	set.srv.ServeConn(hc, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
}

func (set *h2Set) add(c *h2Conn) {
	set.mu.Lock()
	defer set.mu.Unlock()
	set.conns[c] = struct{}{}
	if set.draining {
		c.sendNotice(time.Now())
	}
	if set.final {
		time.AfterFunc(set.grace, set.kick)
	}
}

// markFinal records that the final GOAWAY is going out now; kick sends
// it again, for connections that start later.
func (set *h2Set) markFinal(grace time.Duration, kick func()) {
	if set == nil {
		return
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	set.final, set.grace, set.kick = true, grace, kick
}

func (set *h2Set) remove(c *h2Conn) {
	set.mu.Lock()
	defer set.mu.Unlock()
	delete(set.conns, c)
}

// beginDrain sends the drain notice on every HTTP/2 connection, and on
// every one that starts from now on.
func (set *h2Set) beginDrain() {
	if set == nil {
		return
	}
	now := time.Now()
	set.mu.Lock()
	defer set.mu.Unlock()
	set.draining = true
	for c := range set.conns {
		c.sendNotice(now)
	}
}

// waitNoticed waits until the notice has been out for grace on every
// HTTP/2 connection still open, or ctx ends.
func (set *h2Set) waitNoticed(ctx context.Context, grace time.Duration) {
	if set == nil {
		return
	}
	var last time.Time
	set.mu.Lock()
	for c := range set.conns {
		if due, ok := c.noticeDue(grace); ok && due.After(last) {
			last = due
		}
	}
	set.mu.Unlock()
	wait := time.Until(last)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
