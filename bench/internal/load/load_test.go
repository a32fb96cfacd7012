package load

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
)

func TestClientsSucceedAndSeeThePID(t *testing.T) {
	srv := httptest.NewServer(handler.New(handler.Options{}))
	defer srv.Close()
	rec := NewRecorder(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	Run(ctx, Config{Addr: srv.Listener.Addr().String(), Clients: [NumKinds]int{1, 1, 1, 1}, SlowDelay: 20 * time.Millisecond}, rec)
	s := rec.Summary()
	if s.TotalFailed() != 0 {
		t.Fatalf("failures: %v", s.Samples)
	}
	for k := range NumKinds {
		if s.OK[k] == 0 {
			t.Errorf("%s: no successful request", k)
		}
	}
	if _, ok := rec.FirstSeen(os.Getpid()); !ok {
		t.Error("the server's pid was not seen")
	}
	if len(rec.Timeline()) == 0 {
		t.Error("empty timeline")
	}
}

// A server that reads a request and closes the connection without
// answering: the client must count a failure and never retry.
func TestClientCountsADroppedRequestOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	rec := NewRecorder(time.Second)
	Run(context.Background(), Config{Addr: ln.Addr().String(), Clients: [NumKinds]int{KeepAliveGet: 1}, MaxRequests: 3}, rec)
	s := rec.Summary()
	if s.Requests[KeepAliveGet] != 3 || s.Failed[KeepAliveGet][EOF] != 3 {
		t.Fatalf("requests %d, failures %v; want 3 and 3 eof", s.Requests[KeepAliveGet], s.Failed[KeepAliveGet])
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
