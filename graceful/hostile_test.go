package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestManyIdleConnectionsDrainInTheGrace keeps hundreds of keep-alive
// connections open and silent through a shutdown: the drain closes them
// once the idle grace has passed and ends long before its timeout.
func TestManyIdleConnectionsDrainInTheGrace(t *testing.T) {
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	cfg.IdleDrainGrace = 200 * time.Millisecond
	cfg.GracefulShutdownTimeout = 20 * time.Second
	s := New("127.0.0.1:0", 0, cfg)
	errc := serve(t, s)
	const n = 200
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialHTTP(t, s.GetListenedAddress())
		conns[i].roundTrip(t)
	}
	waitFor(t, "all connections idle", 10*time.Second, func() bool { return s.Stats().IdleConns == n })
	begin := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("drain of %d idle connections took %s", n, took)
	}
	if d := s.Stats().Drain; d.IdleClosed != n || d.CutConns != 0 {
		t.Errorf("drain stats %+v, want %d idle connections closed and none cut", d, n)
	}
	for _, c := range conns {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("idle connection after the drain: %v, want it closed", err)
		}
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestClientThatNeverReadsIsCutAtTheTimeout: a response that the client
// never reads blocks its handler in Write; the drain still ends at its
// timeout, and says what it cut.
func TestClientThatNeverReadsIsCutAtTheTimeout(t *testing.T) {
	writing := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; ; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if i == 0 {
				writing <- struct{}{}
			}
		}
	})
	cfg := testConfig(t, h)
	cfg.GracefulShutdownTimeout = 300 * time.Millisecond
	s := New("127.0.0.1:0", 0, cfg)
	errc := serve(t, s)
	c := dialHTTP(t, s.GetListenedAddress())
	c.send(t) // and never read
	<-writing
	waitFor(t, "the handler to block on a full socket", 10*time.Second, func() bool {
		return s.Stats().InFlightRequests == 1
	})
	begin := time.Now()
	err := s.Shutdown(context.Background())
	took := time.Since(begin)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cut 1 connections carrying 1 requests") {
		t.Fatalf("Shutdown = %v, want the timeout with 1 connection cut", err)
	}
	if took > 3*time.Second {
		t.Errorf("Shutdown took %s with a 300ms timeout", took)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestGarbageRequestsDoNotDisturbTheDrain sends malformed requests during
// a drain: they get 400s or closed connections, and the drain ends.
func TestGarbageRequestsDoNotDisturbTheDrain(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, release)))
	errc := serve(t, s)
	go func() { _, _, _ = get("http://" + s.GetListenedAddress() + "/") }()
	<-started
	for _, junk := range []string{"\x00\x01\x02\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET /" + strings.Repeat("a", 1<<16) + "\n"} {
		conn, err := net.Dial("tcp", s.GetListenedAddress())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, junk)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", 5*time.Second, func() bool { return s.Stats().Draining })
	close(release)
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not end")
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(ne.Err.Error(), "reset")
}
