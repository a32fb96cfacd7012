package graceful

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// testLogger sends a server's log lines to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testLoggerQuiet drops info lines, for tests that start many servers.
func testLoggerQuiet(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testConfig is DefaultServerConfig with the test's logger and handler.
func testConfig(t testing.TB, h http.Handler) ServerConfig {
	cfg := DefaultServerConfig()
	cfg.Handler = h
	cfg.Logger = testLogger(t)
	return cfg
}

// serve starts s on a loopback listener (unless it has one) and returns the
// channel Serve's result arrives on. The test's cleanup closes the server
// and waits for Serve to return, so no goroutine outlives the test.
func serve(t testing.TB, s *Server) <-chan error {
	t.Helper()
	if s.GetListenedAddress() == "" {
		if err := s.CreateListener(); err != nil {
			t.Fatalf("CreateListener: %v", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	waitRunning(t, s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("cleanup Close: %v", err)
		}
	})
	return errc
}

// waitRunning waits until Serve has marked the server running.
func waitRunning(t testing.TB, s *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Status() != ServerStatusRunning {
		if time.Now().After(deadline) {
			t.Fatal("server did not start running within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes; for states the
// server exposes no event for (counters).
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recvErr waits for Serve's result.
func recvErr(t testing.TB, errc <-chan error, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout):
		t.Fatalf("Serve did not return within %s", timeout)
		return nil
	}
}

// get sends one GET with a client that does not reuse connections.
func get(url string) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// blockingHandler answers "done" once release is closed, and tells started
// when a request has arrived.
func blockingHandler(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
		}
	})
}

func isClosedErr(err error) bool {
	return errors.Is(err, ErrServerClosed)
}

// listenLoopback listens on a free TCP port of 127.0.0.1.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitBindable waits until a listening socket can be bound at addr: no
// other socket listens there.
func waitBindable(t testing.TB, what, addr string) {
	t.Helper()
	waitFor(t, what, 5*time.Second, func() bool {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		_ = ln.Close()
		return true
	})
}
