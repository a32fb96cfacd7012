package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server answers "pid=<pid>" and sleeps for ?sleep=D first; for a POST it
// reads the whole body and echoes its size.
func server() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "pid=%d read=%d\n", os.Getpid(), n)
	})
}

// TestEveryKindSucceedsAndSeesThePID runs a client of each kind against a
// real server and checks each got answers naming the server's PID.
func TestEveryKindSucceedsAndSeesThePID(t *testing.T) {
	srv := httptest.NewServer(server())
	defer srv.Close()
	r := Run(context.Background(), Options{Address: srv.Listener.Addr().String(), Clients: [NumKinds]int{1, 1, 1, 1, 1, 1},
		SlowDelay: time.Millisecond, MaxRequests: 20, PipelineDepth: 5, HeaderPieces: 3, HeaderGap: time.Millisecond})
	if len(r.Failures) != 0 {
		t.Fatalf("failures: %v", r.Failures)
	}
	for k := range NumKinds {
		if r.Requests[k] != 20 {
			t.Errorf("%s: %d requests, want 20", k, r.Requests[k])
		}
	}
	const all = 20 * int(NumKinds)
	if r.Successes != all || r.PIDs[os.Getpid()] == nil || r.PIDs[os.Getpid()].Count != all {
		t.Errorf("successes %d, pids %v; want %d answers from %d", r.Successes, r.PIDs, all, os.Getpid())
	}
	if r.Percentile(50) <= 0 || len(r.Latencies) != all {
		t.Errorf("latencies: %d, p50 %s", len(r.Latencies), r.Percentile(50))
	}
}

// TestADroppedRequestIsAFailureNeverARetry: a server that reads each
// request and closes without answering. Every request must be one failure,
// sent, never re-sent: the server sees exactly as many connections as the
// client made requests.
func TestADroppedRequestIsAFailureNeverARetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	conns := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	r := Run(context.Background(), Options{Address: ln.Addr().String(), Clients: [NumKinds]int{KeepAliveGet: 1}, MaxRequests: 3})
	if r.Requests[KeepAliveGet] != 3 || len(r.Failures) != 3 || r.Successes != 0 {
		t.Fatalf("requests %d, failures %v; want 3 and 3", r.Requests[KeepAliveGet], r.Failures)
	}
	for _, f := range r.Failures {
		if !f.Sent || f.Answered || (f.Class != EOF && f.Class != Reset) {
			t.Errorf("failure %v: want sent, not answered before, eof or reset", f)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 3 {
		t.Errorf("the server saw %d connections for 3 requests", conns)
	}
}

// TestNon2xxIsAFailureWithTheBody checks a 503 counts as a failure that
// was sent and answered, with the server's words.
func TestNon2xxIsAFailureWithTheBody(t *testing.T) {
	srv := httptest.NewServer(server())
	defer srv.Close()
	r := Run(context.Background(), Options{Address: srv.Listener.Addr().String(), Path: "/fail", Clients: [NumKinds]int{KeepAliveGet: 1}, MaxRequests: 2})
	if len(r.Failures) != 2 {
		t.Fatalf("failures %v, want 2", r.Failures)
	}
	f := r.Failures[1]
	if f.Class != Status || !f.Sent || !f.Answered || !strings.Contains(f.Err, "503") || !strings.Contains(f.Err, "no") {
		t.Errorf("second failure %v: want a sent non-2xx on a connection that answered before, naming 503 and the body", f)
	}
}

// TestRefusedDials checks a dial to a closed port is a failure that was
// not sent, and that StopOnRefused ends the client instead.
func TestRefusedDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := Run(context.Background(), Options{Address: addr, Clients: [NumKinds]int{NewConnGet: 1}, MaxRequests: 2})
	if len(r.Failures) != 2 || r.Total() != 0 {
		t.Fatalf("failures %v, requests %d; want 2 refused dials and no request", r.Failures, r.Total())
	}
	for _, f := range r.Failures {
		if f.Class != Refused || f.Sent || !strings.HasPrefix(f.Err, "dial: ") {
			t.Errorf("failure %v: want an unsent refused dial", f)
		}
	}
	r = Run(context.Background(), Options{Address: addr, Clients: [NumKinds]int{NewConnGet: 1}, MaxRequests: 2, StopOnRefused: true})
	if len(r.Failures) != 0 {
		t.Errorf("with StopOnRefused: failures %v", r.Failures)
	}
}

// TestDriveEndsWithItsContext checks Drive returns once ctx ends, and a
// Sink sees what Run's Result counts.
func TestDriveEndsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(server())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var s countingSink
	s.cancelAt, s.cancel = 50, cancel
	Drive(ctx, Options{Address: srv.Listener.Addr().String(), Clients: [NumKinds]int{KeepAliveGet: 2}}, &s)
	if s.ok < 50 || s.failed != 0 {
		t.Errorf("sink saw %d ok, %d failed; want at least 50 ok", s.ok, s.failed)
	}
}

type countingSink struct {
	mu         sync.Mutex
	ok, failed int
	cancelAt   int
	cancel     context.CancelFunc
}

func (s *countingSink) Record(o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.OK {
		s.ok++
	} else {
		s.failed++
	}
	if s.ok == s.cancelAt {
		s.cancel()
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]string{
		syscall.ECONNREFUSED:    Refused,
		syscall.ECONNRESET:      Reset,
		syscall.EPIPE:           Reset,
		io.EOF:                  EOF,
		io.ErrUnexpectedEOF:     EOF,
		os.ErrDeadlineExceeded:  Timeout,
		errors.New("who knows"): Other,
		http.ErrBodyNotAllowed:  Other,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestParsePID(t *testing.T) {
	for body, want := range map[string]int{"pid=123 read=0\n": 123, "x pid=7": 7, "none": 0, "pid=": 0} {
		if got := ParsePID([]byte(body)); got != want {
			t.Errorf("ParsePID(%q) = %d, want %d", body, got, want)
		}
	}
}
