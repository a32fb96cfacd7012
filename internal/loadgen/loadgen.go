// Package loadgen drives HTTP/1.1 load at a server for the tests, with
// clients that never retry: every request that was written and did not get
// a complete response is a failure, so that the losses a graceful shutdown
// or restart must avoid cannot hide behind a transport's silent re-send.
package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is a kind of client.
type Kind int

const (
	// KeepAliveGet sends GETs one after another on one connection.
	KeepAliveGet Kind = iota
	// KeepAlivePost sends POSTs with a body on one connection.
	KeepAlivePost
	// NewConnGet opens a new connection for every GET.
	NewConnGet
	numKinds
)

// Kinds lists every kind of client.
var Kinds = []Kind{KeepAliveGet, KeepAlivePost, NewConnGet}

func (k Kind) String() string {
	switch k {
	case KeepAliveGet:
		return "keepalive-get"
	case KeepAlivePost:
		return "keepalive-post"
	case NewConnGet:
		return "newconn-get"
	}
	return "kind" + strconv.Itoa(int(k))
}

// Failure classes.
const (
	Refused = "refused"
	Reset   = "reset"
	EOF     = "eof"
	Timeout = "timeout"
	Status  = "non-2xx"
	Other   = "other"
)

// Options describe a load run.
type Options struct {
	// Network is "tcp" (default) or "unix"; Address is host:port or a
	// socket path.
	Network, Address string
	// TLS, when set, makes every connection a TLS client connection.
	TLS *tls.Config
	// Path is requested by every client ("/" by default).
	Path string
	// PostBody is the size of each POST body (1024 by default).
	PostBody int
	// Clients is how many clients of each kind run at once.
	Clients map[Kind]int
	// StopOnRefused ends a client when a dial is refused, instead of
	// counting a failure: the server is gone on purpose.
	StopOnRefused bool
	// RequestTimeout bounds one request (10 s by default).
	RequestTimeout time.Duration
	// MaxRequests bounds the requests of one client (1e6 by default).
	MaxRequests int
	// Pace, when set, is a pause between two requests of one client.
	Pace time.Duration
}

// Failure is one request that did not get a complete 2xx answer.
type Failure struct {
	Kind  Kind
	Class string
	Err   string
	At    time.Time
	// Sent tells whether the request was written (a failed dial sends
	// nothing); Answered whether the connection had answered a request
	// before this one.
	Sent, Answered bool
}

func (f Failure) String() string {
	return fmt.Sprintf("%s %s at %s (sent %v, connection answered before %v): %s",
		f.Kind, f.Class, f.At.Format("15:04:05.000"), f.Sent, f.Answered, f.Err)
}

// PIDSeen records the responses that named a process ID in their body
// ("pid=123").
type PIDSeen struct {
	First, Last time.Time
	Count       int
}

// Result is what a run observed.
type Result struct {
	Requests  [numKinds]int
	Successes int
	Failures  []Failure
	PIDs      map[int]*PIDSeen
	Latencies []time.Duration
}

// Total returns the number of requests sent.
func (r *Result) Total() int {
	n := 0
	for _, c := range r.Requests {
		n += c
	}
	return n
}

// Summary describes the failures in one line.
func (r *Result) Summary() string {
	counts := map[string]int{}
	for _, f := range r.Failures {
		counts[f.Kind.String()+"/"+f.Class]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return fmt.Sprintf("%d requests, %d ok, %d failed [%s]", r.Total(), r.Successes, len(r.Failures), strings.Join(parts, " "))
}

// Percentile returns the p-th percentile (0..100) of request latency.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func (r *Result) merge(o *Result) {
	for i := range r.Requests {
		r.Requests[i] += o.Requests[i]
	}
	r.Successes += o.Successes
	r.Failures = append(r.Failures, o.Failures...)
	r.Latencies = append(r.Latencies, o.Latencies...)
	for pid, s := range o.PIDs {
		m, ok := r.PIDs[pid]
		if !ok {
			r.PIDs[pid] = s
			continue
		}
		m.Count += s.Count
		if s.First.Before(m.First) {
			m.First = s.First
		}
		if s.Last.After(m.Last) {
			m.Last = s.Last
		}
	}
}

// Run drives load until ctx ends (or every client stopped) and returns
// what it saw.
func Run(ctx context.Context, o Options) *Result {
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.PostBody == 0 {
		o.PostBody = 1024
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = 1_000_000
	}
	total := &Result{PIDs: map[int]*PIDSeen{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, k := range Kinds {
		for range o.Clients[k] {
			wg.Go(func() {
				r := runClient(ctx, o, k)
				mu.Lock()
				total.merge(r)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return total
}

var pidPattern = regexp.MustCompile(`pid=(\d+)`)

// client is one connection-holding client.
type client struct {
	o      Options
	kind   Kind
	body   []byte
	conn   net.Conn
	br     *bufio.Reader
	served int // requests answered on conn
	res    *Result
}

func runClient(ctx context.Context, o Options, k Kind) *Result {
	c := &client{o: o, kind: k, res: &Result{PIDs: map[int]*PIDSeen{}}}
	if k == KeepAlivePost {
		c.body = []byte(strings.Repeat("x", o.PostBody))
	}
	defer c.closeConn()
	for i := 0; i < o.MaxRequests && ctx.Err() == nil; i++ {
		if c.conn == nil {
			if err := c.dial(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				if o.StopOnRefused && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)) {
					break
				}
				c.res.Failures = append(c.res.Failures, Failure{Kind: c.kind, Class: Classify(err), Err: "dial: " + err.Error(), At: time.Now()})
				time.Sleep(5 * time.Millisecond)
				continue
			}
		}
		c.request()
		if o.Pace > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(o.Pace):
			}
		}
	}
	return c.res
}

func (c *client) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.o.RequestTimeout}
	conn, err := d.DialContext(ctx, c.o.Network, c.o.Address)
	if err != nil {
		return err
	}
	if c.o.TLS != nil {
		cfg := c.o.TLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(c.o.Address)
		}
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return err
		}
		conn = tc
	}
	c.conn, c.br, c.served = conn, bufio.NewReader(conn), 0
	return nil
}

func (c *client) closeConn() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// request sends one request and reads its answer.
func (c *client) request() {
	c.res.Requests[c.kind]++
	answered := c.served > 0
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.o.RequestTimeout))
	var req strings.Builder
	method := "GET"
	if c.kind == KeepAlivePost {
		method = "POST"
	}
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: loadgen\r\n", method, c.o.Path)
	if c.kind == NewConnGet {
		req.WriteString("Connection: close\r\n")
	}
	if c.body != nil {
		fmt.Fprintf(&req, "Content-Type: text/plain\r\nContent-Length: %d\r\n", len(c.body))
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c.conn, req.String()); err != nil {
		c.fail(err, answered)
		c.closeConn()
		return
	}
	if c.body != nil {
		if _, err := c.conn.Write(c.body); err != nil {
			c.fail(err, answered)
			c.closeConn()
			return
		}
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.fail(err, answered)
		c.closeConn()
		return
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		c.fail(err, answered)
		c.closeConn()
		return
	}
	now := time.Now()
	c.served++
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.res.Failures = append(c.res.Failures, Failure{Kind: c.kind, Class: Status, Err: resp.Status + ": " + strings.TrimSpace(string(body)), At: now, Sent: true, Answered: answered})
	} else {
		c.res.Successes++
		c.res.Latencies = append(c.res.Latencies, now.Sub(start))
		if m := pidPattern.FindSubmatch(body); m != nil {
			pid, _ := strconv.Atoi(string(m[1]))
			s, ok := c.res.PIDs[pid]
			if !ok {
				s = &PIDSeen{First: now}
				c.res.PIDs[pid] = s
			}
			s.Count++
			s.Last = now
		}
	}
	if resp.Close || c.kind == NewConnGet {
		c.closeConn()
	}
}

// fail records a request that was written (or partly written) and got no
// complete answer.
func (c *client) fail(err error, answered bool) {
	c.res.Failures = append(c.res.Failures, Failure{Kind: c.kind, Class: Classify(err), Err: err.Error(), At: time.Now(), Sent: true, Answered: answered})
}

// Classify names the failure class of a request error.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Other
}
