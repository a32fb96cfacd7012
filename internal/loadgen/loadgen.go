// Package loadgen drives HTTP/1.1 load at a server, for the tests and for
// the bench, with clients that never retry: every request that was written
// and did not get a complete response is a failure, so that the losses a
// graceful shutdown or restart must avoid cannot hide behind a transport's
// silent re-send (Go's http.Transport re-sends idempotent requests whose
// reused connection died). The clients speak HTTP over raw connections.
//
// Drive reports every request's outcome to a Sink as it ends; Run collects
// them into a Result.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	// Slow sends GETs of Path?sleep=SlowDelay on one connection.
	Slow
	// Pipelined writes PipelineDepth GETs at once on one connection, then
	// reads their answers; the last one asks to close the connection
	// every tenth batch.
	Pipelined
	// SlowHeader sends each GET's header in HeaderPieces pieces,
	// HeaderGap apart, on one connection (a client on a bad link).
	SlowHeader
	// NumKinds is the number of kinds.
	NumKinds
)

var kindNames = [NumKinds]string{"keepalive-get", "keepalive-post", "newconn-get", "slow-get", "pipelined-get", "slow-header-get"}

// String returns the kind's name as reports show it.
func (k Kind) String() string {
	if k >= 0 && k < NumKinds {
		return kindNames[k]
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

// Classes lists the failure classes in report order.
var Classes = []string{Refused, Reset, EOF, Timeout, Status, Other}

// Options describe a load run.
type Options struct {
	// Network is "tcp" (default) or "unix"; Address is host:port or a
	// socket path.
	Network, Address string
	// TLS, when set, makes every connection a TLS client connection; it
	// must offer HTTP/1.1 only.
	TLS *tls.Config
	// Path is requested by every client ("/" by default).
	Path string
	// PostBody is the size of each POST body (1024 by default).
	PostBody int
	// SlowDelay is what Slow clients ask the server to sleep (250 ms by
	// default).
	SlowDelay time.Duration
	// Clients is how many clients of each kind run at once.
	Clients [NumKinds]int
	// StopOnRefused ends a client when a dial is refused or reset,
	// instead of counting a failure: the server is gone on purpose.
	StopOnRefused bool
	// RequestTimeout bounds one request (10 s by default).
	RequestTimeout time.Duration
	// MaxRequests bounds the requests of one client (1e6 by default).
	MaxRequests int
	// Pace, when set, is a pause between two requests of one client.
	Pace time.Duration
	// PipelineDepth is how many requests a Pipelined client writes at
	// once (10 by default).
	PipelineDepth int
	// HeaderPieces and HeaderGap shape a SlowHeader client's requests
	// (15 pieces, 200 ms apart by default).
	HeaderPieces int
	HeaderGap    time.Duration
}

// Failure is one request that did not get a complete 2xx answer, or a
// dial that failed.
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

// Outcome is how one request, or one failed dial, ended.
type Outcome struct {
	Kind Kind
	// At is when it ended.
	At time.Time
	// OK tells a complete 2xx answer; Latency and PID (from "pid=N" in the
	// body, 0 when it names none) are set only then.
	OK      bool
	Latency time.Duration
	PID     int
	// Failure describes it when OK is false.
	Failure Failure
}

// A Sink receives every outcome of a Drive, from many goroutines at once.
type Sink interface {
	Record(Outcome)
}

// Drive runs the clients until ctx ends, or every client stopped, and
// reports each outcome to sink as it happens. It returns once every client
// has stopped. A dial that fails once ctx has ended (or its deadline has
// passed) ends the client rather than counting as a failure.
func Drive(ctx context.Context, o Options, sink Sink) {
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.PostBody == 0 {
		o.PostBody = 1024
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = 250 * time.Millisecond
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = 1_000_000
	}
	if o.PipelineDepth == 0 {
		o.PipelineDepth = 10
	}
	if o.HeaderPieces == 0 {
		o.HeaderPieces = 15
	}
	if o.HeaderGap == 0 {
		o.HeaderGap = 200 * time.Millisecond
	}
	var wg sync.WaitGroup
	for k := range NumKinds {
		for range o.Clients[k] {
			c := newClient(o, k, sink)
			wg.Go(func() { c.run(ctx) })
		}
	}
	wg.Wait()
}

// client is one connection-holding client.
type client struct {
	o      Options
	kind   Kind
	sink   Sink
	req    []byte // the request, body included, written whole
	conn   net.Conn
	br     *bufio.Reader
	served int // requests answered on conn
	batch  int // Pipelined: batches written
}

func newClient(o Options, k Kind, sink Sink) *client {
	var b bytes.Buffer
	switch k {
	case KeepAlivePost:
		fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: loadgen\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", o.Path, o.PostBody)
		b.Write(bytes.Repeat([]byte("x"), o.PostBody))
	case NewConnGet:
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: loadgen\r\nConnection: close\r\n\r\n", o.Path)
	case Slow:
		sep := "?"
		if strings.Contains(o.Path, "?") {
			sep = "&"
		}
		fmt.Fprintf(&b, "GET %s%ssleep=%s HTTP/1.1\r\nHost: loadgen\r\n\r\n", o.Path, sep, o.SlowDelay)
	default:
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: loadgen\r\n\r\n", o.Path)
	}
	return &client{o: o, kind: k, sink: sink, req: b.Bytes()}
}

func (c *client) run(ctx context.Context) {
	defer c.closeConn()
	step := 1
	if c.kind == Pipelined {
		step = c.o.PipelineDepth
	}
	for i := 0; i < c.o.MaxRequests && ctx.Err() == nil; i += step {
		if c.conn == nil {
			if err := c.dial(ctx); err != nil {
				if ended(ctx) {
					return
				}
				if c.o.StopOnRefused && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)) {
					return
				}
				c.failed(err, "dial: ", false, false)
				// Back off a little so that a server that is down is not
				// hammered by a spinning loop.
				pause(ctx, 5*time.Millisecond)
				continue
			}
		}
		switch c.kind {
		case Pipelined:
			c.pipeline()
		case SlowHeader:
			c.slowHeader(ctx)
		default:
			c.request()
		}
		if c.o.Pace > 0 {
			pause(ctx, c.o.Pace)
		}
	}
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
	c.conn, c.br, c.served = conn, bufio.NewReaderSize(conn, 4096), 0
	return nil
}

func (c *client) closeConn() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// request sends one request on c.conn and reads its answer.
func (c *client) request() {
	answered := c.served > 0
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.o.RequestTimeout))
	if _, err := c.conn.Write(c.req); err != nil {
		c.failed(err, "", true, answered)
		return
	}
	resp, body, err := c.readAnswer()
	if err != nil {
		c.failed(err, "", true, answered)
		return
	}
	c.answer(resp, body, start, answered)
	if resp.Close || c.kind == NewConnGet {
		c.closeConn()
	}
}

// readAnswer reads one response and its body from the connection.
func (c *client) readAnswer() (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, body, err
}

// pipeline writes a batch of requests at once and reads every answer. A
// request left unanswered when the connection ends is a failure; a
// response that asks to close ends the batch's connection after the
// answers that follow it, as HTTP/1.1 lets a server answer what a
// client pipelined before it could see the header.
func (c *client) pipeline() {
	answered := c.served > 0
	depth := c.o.PipelineDepth
	c.batch++
	var b bytes.Buffer
	for i := range depth {
		if i == depth-1 && c.batch%10 == 0 {
			fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: loadgen\r\nConnection: close\r\n\r\n", c.o.Path)
		} else {
			b.Write(c.req)
		}
	}
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.o.RequestTimeout))
	if _, err := c.conn.Write(b.Bytes()); err != nil {
		for range depth {
			c.record(err, "", true, answered)
		}
		c.closeConn()
		return
	}
	closing := false
	for i := range depth {
		resp, body, err := c.readAnswer()
		if err != nil {
			for range depth - i {
				c.record(err, "", true, answered || i > 0)
			}
			c.closeConn()
			return
		}
		c.answer(resp, body, start, answered || i > 0)
		closing = closing || resp.Close
	}
	if closing {
		c.closeConn()
	}
}

// slowHeader sends one GET's header in pieces and reads the answer.
func (c *client) slowHeader(ctx context.Context) {
	answered := c.served > 0
	pieces := min(c.o.HeaderPieces, len(c.req))
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.o.RequestTimeout + time.Duration(pieces)*c.o.HeaderGap))
	for i := range pieces {
		from, to := i*len(c.req)/pieces, (i+1)*len(c.req)/pieces
		if i > 0 {
			pause(ctx, c.o.HeaderGap)
		}
		if _, err := c.conn.Write(c.req[from:to]); err != nil {
			c.failed(err, "", true, answered)
			return
		}
	}
	resp, body, err := c.readAnswer()
	if err != nil {
		c.failed(err, "", true, answered)
		return
	}
	c.answer(resp, body, start, answered)
	if resp.Close {
		c.closeConn()
	}
}

// answer reports a complete response.
func (c *client) answer(resp *http.Response, body []byte, start time.Time, answered bool) {
	now := time.Now()
	c.served++
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := resp.Status
		if b := strings.TrimSpace(string(body)); b != "" {
			msg += ": " + b
		}
		c.sink.Record(Outcome{Kind: c.kind, At: now, Failure: Failure{Kind: c.kind, Class: Status, Err: msg, At: now, Sent: true, Answered: answered}})
		return
	}
	c.sink.Record(Outcome{Kind: c.kind, At: now, OK: true, Latency: now.Sub(start), PID: ParsePID(body)})
}

// record records one request (or dial) that got no answer; the connection
// stays (see failed).
func (c *client) record(err error, prefix string, sent, answered bool) {
	now := time.Now()
	c.sink.Record(Outcome{Kind: c.kind, At: now, Failure: Failure{Kind: c.kind, Class: Classify(err), Err: prefix + err.Error(), At: now, Sent: sent, Answered: answered}})
}

// failed reports a request (or dial) that got no answer, and drops the
// connection: a client never sends again on a connection that failed.
func (c *client) failed(err error, prefix string, sent, answered bool) {
	c.record(err, prefix, sent, answered)
	c.closeConn()
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

// ParsePID returns the number after the first "pid=" in body, or 0.
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

// PIDSeen records the responses that named a process ID in their body
// ("pid=123").
type PIDSeen struct {
	First, Last time.Time
	Count       int
}

// Result is what a Run observed.
type Result struct {
	// Requests counts the requests written, by kind (failed dials are
	// not requests).
	Requests  [NumKinds]int
	Successes int
	Failures  []Failure
	PIDs      map[int]*PIDSeen
	Latencies []time.Duration

	mu sync.Mutex
}

// Run drives load as Drive does and returns what it saw.
func Run(ctx context.Context, o Options) *Result {
	r := &Result{PIDs: map[int]*PIDSeen{}}
	Drive(ctx, o, r)
	return r
}

// Record adds one outcome; it makes a Result a Sink.
func (r *Result) Record(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.PIDs == nil {
		r.PIDs = map[int]*PIDSeen{}
	}
	if o.OK || o.Failure.Sent {
		r.Requests[o.Kind]++
	}
	if !o.OK {
		r.Failures = append(r.Failures, o.Failure)
		return
	}
	r.Successes++
	r.Latencies = append(r.Latencies, o.Latency)
	if o.PID > 0 {
		s, ok := r.PIDs[o.PID]
		if !ok {
			s = &PIDSeen{First: o.At}
			r.PIDs[o.PID] = s
		}
		s.Count++
		s.Last = o.At
	}
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
