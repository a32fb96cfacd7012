package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// IdlePool holds keep-alive connections that each answered one GET and
// then sit idle, as browsers' and proxies' pooled connections do between
// requests. When the server closes one, its client reconnects at once and
// sends one GET on the new connection, which then sits idle in turn: a
// restart that closes them all makes a wave of reconnects.
type IdlePool struct {
	addr string

	connected atomic.Int64 // connections open and idle after their answer

	mu       sync.Mutex
	closes   []time.Time // when a client saw the server close its idle connection
	answered []time.Time // when a reconnected client's GET was answered
	resumed  []time.Time // when a reconnect that resumed its TLS session was answered
	failed   int
	requests int
	first    string

	wg sync.WaitGroup
}

// maxIdleCycles bounds the reconnects of one idle client.
const maxIdleCycles = 10_000

// StartIdlePool opens n idle connections to addr (TLS with cfg when it is
// not nil; it must offer HTTP/1.1 only), at most 64 dials at a time (a
// reconnection after the server closed a connection is not held back),
// and keeps them until ctx ends. Call Wait after ctx ends.
//
// When cfg has a ClientSessionCache, each client gets a cache of its own
// instead (one session, as an independent client keeps for a server), so
// that a reconnect resumes the session its client last had when the
// server accepts its ticket.
func StartIdlePool(ctx context.Context, addr string, cfg *tls.Config, n int) *IdlePool {
	p := &IdlePool{addr: addr}
	sem := make(chan struct{}, 64)
	for range n {
		cfg := cfg
		if cfg != nil && cfg.ClientSessionCache != nil {
			cfg = cfg.Clone()
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		p.wg.Go(func() { p.client(ctx, cfg, sem) })
	}
	return p
}

// Wait returns once every client has stopped.
func (p *IdlePool) Wait() { p.wg.Wait() }

// Connected returns how many connections are open and idle.
func (p *IdlePool) Connected() int { return int(p.connected.Load()) }

// WaitConnected waits until n connections are idle, ctx ends or timeout
// passes, and reports whether they are.
func (p *IdlePool) WaitConnected(ctx context.Context, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for p.Connected() < n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling interval, bounded by deadline
	}
	return true
}

// Since returns when, at or after t, clients saw their idle connection
// closed, and when their GETs on the new connections were answered.
func (p *IdlePool) Since(t time.Time) (closes, answered []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return atOrAfter(p.closes, t), atOrAfter(p.answered, t)
}

// ResumedSince returns how many reconnects answered at or after t resumed
// their TLS session.
func (p *IdlePool) ResumedSince(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(atOrAfter(p.resumed, t))
}

// atOrAfter returns the times of ts that are not before t.
func atOrAfter(ts []time.Time, t time.Time) []time.Time {
	var out []time.Time
	for _, x := range ts {
		if !x.Before(t) {
			out = append(out, x)
		}
	}
	return out
}

// Failed returns the failed requests (a failed dial counts), the requests
// sent, and the first failure.
func (p *IdlePool) Failed() (failed, requests int, first string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed, p.requests, p.first
}

func (p *IdlePool) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed++
	if p.first == "" {
		p.first = fmt.Sprintf("%s at %s: %v", loadgen.Classify(err), time.Now().Format("15:04:05.000"), err)
	}
}

func (p *IdlePool) client(ctx context.Context, cfg *tls.Config, sem chan struct{}) {
	reconnect, retrying := false, false
	for range maxIdleCycles {
		if ctx.Err() != nil {
			return
		}
		// The first connections open at most len(sem) at a time, so that
		// the pool's start does not overflow the server's accept queue;
		// a client whose connection the server closed reconnects at
		// once, as every client of a real pool does on its own: the
		// server alone shapes that wave.
		limited := !reconnect || retrying
		if limited {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		conn, br, err := dialGet(ctx, p.addr, cfg)
		if limited {
			<-sem
		}
		p.mu.Lock()
		if ctx.Err() == nil {
			p.requests++
			if err == nil && reconnect {
				now := time.Now()
				p.answered = append(p.answered, now)
				if tc, ok := conn.(*tls.Conn); ok && tc.ConnectionState().DidResume {
					p.resumed = append(p.resumed, now)
				}
			}
		}
		p.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.fail(err)
			pause(ctx, 5*time.Millisecond)
			retrying = true // a retry waits its turn
			continue
		}
		retrying = false
		p.connected.Add(1)
		// Idle: the server sends nothing until it closes the connection.
		stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
		_, err = br.ReadByte()
		stop()
		p.connected.Add(-1)
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			p.fail(errors.New("the server sent bytes on an idle connection"))
		} else {
			p.mu.Lock()
			p.closes = append(p.closes, time.Now())
			p.mu.Unlock()
		}
		reconnect = true
	}
}

// dialGet opens a connection, sends GET / and reads a 200 answer that
// keeps the connection open.
func dialGet(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, *bufio.Reader, error) {
	conn, err := dial(ctx, addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
		err = fmt.Errorf("%s, close %v", resp.Status, resp.Close)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, nil
}

func dial(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if cfg == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// SteadyRequest is one request of a SteadyClient.
type SteadyRequest struct {
	// Due is when the request was due; Latency runs from then to the
	// end of the answer, so that a request delayed by the one before it
	// counts its wait.
	Due     time.Time
	Latency time.Duration
	// KeepAlive is true for the keep-alive connection's requests, false
	// for those on a new connection each.
	KeepAlive bool
	OK        bool
	Err       string
}

// SteadyClient sends GET / at a fixed rate, on a new connection each time
// and on one keep-alive connection (reopened when the server closes it),
// and keeps every request's latency.
type SteadyClient struct {
	mu   sync.Mutex
	reqs []SteadyRequest
	wg   sync.WaitGroup
	// out, when set, takes each request instead of reqs (a steady client
	// process writes them to its parent).
	out chan SteadyRequest
}

// maxSteady bounds the requests a SteadyClient keeps.
const maxSteady = 1_000_000

// StartSteady starts the two loops, each sending one request every
// interval until ctx ends. Call Wait after ctx ends.
func StartSteady(ctx context.Context, addr string, cfg *tls.Config, interval time.Duration) *SteadyClient {
	c := &SteadyClient{}
	c.wg.Go(func() { c.loop(ctx, addr, cfg, interval, false) })
	c.wg.Go(func() { c.loop(ctx, addr, cfg, interval, true) })
	return c
}

// Wait returns once both loops have stopped.
func (c *SteadyClient) Wait() { c.wg.Wait() }

// Between returns the requests due in [from, to).
func (c *SteadyClient) Between(from, to time.Time) []SteadyRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []SteadyRequest
	for _, r := range c.reqs {
		if !r.Due.Before(from) && r.Due.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

func (c *SteadyClient) loop(ctx context.Context, addr string, cfg *tls.Config, interval time.Duration, keepAlive bool) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for range maxSteady {
		var due time.Time
		select {
		case <-ctx.Done():
			return
		case due = <-tick.C:
		}
		var err error
		if conn == nil {
			conn, err = dial(ctx, addr, cfg)
			if err == nil {
				br = bufio.NewReader(conn)
			}
		}
		closeAfter := !keepAlive
		if err == nil {
			closeAfter, err = steadyGet(conn, br, keepAlive)
		}
		if ctx.Err() != nil {
			return
		}
		r := SteadyRequest{Due: due, Latency: time.Since(due), KeepAlive: keepAlive, OK: err == nil}
		if err != nil {
			r.Err = loadgen.Classify(err) + ": " + err.Error()
			closeAfter = true
		}
		if closeAfter && conn != nil {
			_ = conn.Close()
			conn = nil
		}
		if c.out != nil {
			c.out <- r
			continue
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, r)
		c.mu.Unlock()
	}
}

// steadyGet sends one GET on conn and reads the answer; it reports whether
// the connection must be closed afterwards.
func steadyGet(conn net.Conn, br *bufio.Reader, keepAlive bool) (bool, error) {
	req := "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
	if keepAlive {
		req = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return true, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return true, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return true, err
	}
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("status %s", resp.Status)
	}
	return resp.Close || !keepAlive, nil
}
