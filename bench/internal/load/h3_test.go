package load

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/internal/testcert"
	"github.com/quic-go/quic-go/http3"
)

// The held HTTP/3 client counts the answers of an in-process quic-go
// server with the pid they carry, and a failed request by its class
// without retrying it.
func TestHeldH3CountsAnswersAndFailures(t *testing.T) {
	cert, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	h := handler.New(handler.Options{})
	srv := &http3.Server{
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}}),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The fifth request fails, once.
			if served.Add(1) == 5 {
				http.Error(w, "no", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pc) }()
	defer func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	var tally H3Tally
	stopped := make(chan struct{})
	go func() {
		HeldH3(ctx, "https://"+pc.LocalAddr().String()+"/", cert.ClientConfig(), 5*time.Second, &tally)
		close(stopped)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for served.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-stopped
	if n := served.Load(); n < 20 {
		t.Fatalf("the server saw %d requests in 20 s, want 20", n)
	}
	// The client sends a request only after it has counted the one
	// before, so the 20th reaching the handler means 19 are counted; the
	// 20th itself may be cut by the cancel and is then not counted.
	if tally.Failed != 1 || tally.ByClass["status 503"] != 1 {
		t.Errorf("failures %d %v, want one of class status 503", tally.Failed, tally.ByClass)
	}
	if ok := tally.Requests - tally.Failed; tally.Requests < 19 || tally.PIDs[os.Getpid()] != ok {
		t.Errorf("%d requests, %d failed, answers by pid %v; want at least 19 requests, every answer from pid %d", tally.Requests, tally.Failed, tally.PIDs, os.Getpid())
	}
}
