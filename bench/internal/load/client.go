// Package load drives HTTP/1.1 traffic at a subject with clients that
// never retry: a request written on a connection that then dies is a
// failure, and so is a dial that fails. Go's http.Transport silently
// re-sends idempotent requests whose reused connection died, which would
// hide exactly the losses a restart can cause, so the clients here speak
// HTTP over raw connections.
package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of client.
type Kind int

// The kinds of clients.
const (
	// KeepAliveGet sends GET / one after another on one connection.
	KeepAliveGet Kind = iota
	// KeepAlivePost sends POST / with a body on one connection.
	KeepAlivePost
	// NewConnGet opens a new connection for every GET /.
	NewConnGet
	// Slow sends GET /?sleep=... on one connection.
	Slow
	// NumKinds is the number of kinds.
	NumKinds
)

var kindNames = [NumKinds]string{"keepalive-get", "keepalive-post", "newconn-get", "slow-get"}

// String returns the kind's name as the report shows it.
func (k Kind) String() string {
	if k >= 0 && k < NumKinds {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Config describes the clients of a run.
type Config struct {
	// Addr is the subject's host:port.
	Addr string
	// Clients is how many clients of each kind run at once.
	Clients [NumKinds]int
	// PostBody is the size of a POST body (1024 when zero).
	PostBody int
	// SlowDelay is what Slow clients ask for (250 ms when zero).
	SlowDelay time.Duration
	// Timeout bounds one request (10 s when zero).
	Timeout time.Duration
	// MaxRequests bounds the requests of one client (10 million when
	// zero).
	MaxRequests int
}

// Run drives the clients until ctx ends, recording into rec, and returns
// once every client has stopped.
func Run(ctx context.Context, c Config, rec *Recorder) {
	if c.PostBody == 0 {
		c.PostBody = 1024
	}
	if c.SlowDelay == 0 {
		c.SlowDelay = 250 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = 10_000_000
	}
	var wg sync.WaitGroup
	for k := range NumKinds {
		for range c.Clients[k] {
			cl := newClient(c, k, rec)
			wg.Go(func() { cl.run(ctx) })
		}
	}
	wg.Wait()
}

type client struct {
	cfg  Config
	kind Kind
	rec  *Recorder
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func newClient(c Config, k Kind, rec *Recorder) *client {
	var b strings.Builder
	switch k {
	case KeepAlivePost:
		fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", c.PostBody, strings.Repeat("p", c.PostBody))
	case NewConnGet:
		b.WriteString("GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
	case Slow:
		fmt.Fprintf(&b, "GET /?sleep=%s HTTP/1.1\r\nHost: bench\r\n\r\n", c.SlowDelay)
	default:
		b.WriteString("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	}
	return &client{cfg: c, kind: k, rec: rec, req: []byte(b.String())}
}

func (c *client) run(ctx context.Context) {
	defer c.close()
	for i := 0; i < c.cfg.MaxRequests && ctx.Err() == nil; i++ {
		if c.conn == nil {
			d := net.Dialer{Timeout: c.cfg.Timeout}
			conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
			if err != nil {
				if ended(ctx) {
					return
				}
				c.rec.fail(Failure{Kind: c.kind, Class: Classify(err), Err: "dial: " + err.Error(), At: time.Now()}, true)
				// Back off a little so that a subject that is down is
				// not hammered by a spinning loop.
				pause(ctx, 5*time.Millisecond)
				continue
			}
			c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
		}
		c.do()
	}
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// do sends one request on c.conn and reads its answer.
func (c *client) do() {
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.cfg.Timeout))
	if _, err := c.conn.Write(c.req); err != nil {
		c.failed(err)
		return
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.failed(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		c.failed(err)
		return
	}
	now := time.Now()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.rec.fail(Failure{Kind: c.kind, Class: Status, Err: resp.Status, At: now}, true)
	} else {
		c.rec.ok(c.kind, ParsePID(body), now.Sub(start), now)
	}
	if resp.Close || c.kind == NewConnGet {
		c.close()
	}
}

func (c *client) failed(err error) {
	c.rec.fail(Failure{Kind: c.kind, Class: Classify(err), Err: err.Error(), At: time.Now()}, true)
	c.close()
}

// ParsePID returns the number after "pid=" in body, or 0.
func ParsePID(body []byte) int {
	i := bytes.Index(body, []byte("pid="))
	if i < 0 {
		return 0
	}
	n := 0
	for _, b := range body[i+4:] {
		if b < '0' || b > '9' {
			break
		}
		n = n*10 + int(b-'0')
	}
	return n
}

// ended reports whether ctx is done or its deadline has passed: a dial
// can fail with a timeout at the deadline a moment before ctx says so,
// and that is the end of the run, not a failure.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
