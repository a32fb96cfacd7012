package load

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/internal/loadgen"
)

func TestClientsSucceedAndSeeThePID(t *testing.T) {
	srv := httptest.NewServer(handler.New(handler.Options{}))
	defer srv.Close()
	rec := NewRecorder(100 * time.Millisecond)
	// Each client makes a few requests and ends; the timeout only stops
	// a test that would hang.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clients [loadgen.NumKinds]int
	for k := range loadgen.NumKinds {
		clients[k] = 1 // one client of every kind
	}
	loadgen.Drive(ctx, loadgen.Options{
		Address: srv.Listener.Addr().String(), Clients: clients, SlowDelay: 20 * time.Millisecond,
		HeaderPieces: 3, HeaderGap: 5 * time.Millisecond, MaxRequests: 20,
	}, rec)
	s := rec.Summary()
	if s.TotalFailed() != 0 {
		t.Fatalf("failures: %v", s.Samples)
	}
	for k := range loadgen.NumKinds {
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
	loadgen.Drive(context.Background(), loadgen.Options{Address: ln.Addr().String(), Clients: [loadgen.NumKinds]int{loadgen.KeepAliveGet: 1}, MaxRequests: 3}, rec)
	s := rec.Summary()
	if s.Requests[loadgen.KeepAliveGet] != 3 || s.Failed[loadgen.KeepAliveGet][loadgen.EOF] != 3 {
		t.Fatalf("requests %d, failures %v; want 3 and 3 eof", s.Requests[loadgen.KeepAliveGet], s.Failed[loadgen.KeepAliveGet])
	}
}
