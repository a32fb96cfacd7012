package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// testLogger sends a server's log lines to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return checkedLogger(t, t.Output(), slog.LevelDebug)
}

// testLoggerQuiet drops info lines, for tests that start many servers.
func testLoggerQuiet(t testing.TB) *slog.Logger {
	return checkedLogger(t, t.Output(), slog.LevelWarn)
}

// captureLogger writes INFO lines and above to logs and to the test's
// output.
func captureLogger(t testing.TB, logs io.Writer) *slog.Logger {
	return checkedLogger(t, io.MultiWriter(logs, t.Output()), slog.LevelInfo)
}

// checkedLogger writes text lines at level and above to w. When the test
// ends it fails if a line had a key twice, with the logger's own
// attributes: in a JSON log such a line is ambiguous, and a key names
// one thing (pid and generation are the logging process's).
func checkedLogger(t testing.TB, w io.Writer, level slog.Level) *slog.Logger {
	dup := &duplicateKeys{}
	t.Cleanup(func() {
		dup.mu.Lock()
		defer dup.mu.Unlock()
		for _, l := range dup.lines {
			t.Errorf("a log line has a key twice: %s", l)
		}
	})
	return slog.New(uniqueKeys{Handler: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), dup: dup})
}

type duplicateKeys struct {
	mu    sync.Mutex
	lines []string
}

// uniqueKeys is a slog.Handler that records the lines with a key twice.
type uniqueKeys struct {
	slog.Handler
	dup  *duplicateKeys
	keys []string // of WithAttrs
}

func (h uniqueKeys) WithAttrs(as []slog.Attr) slog.Handler {
	keys := slices.Clone(h.keys)
	for _, a := range as {
		keys = append(keys, a.Key)
	}
	return uniqueKeys{Handler: h.Handler.WithAttrs(as), dup: h.dup, keys: keys}
}

// WithGroup: keys in a group may repeat those outside it; not checked.
func (h uniqueKeys) WithGroup(name string) slog.Handler { return h.Handler.WithGroup(name) }

func (h uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	seen := make(map[string]bool, len(h.keys)+r.NumAttrs())
	twice := ""
	for _, k := range h.keys {
		if seen[k] {
			twice = k
		}
		seen[k] = true
	}
	r.Attrs(func(a slog.Attr) bool {
		if seen[a.Key] {
			twice = a.Key
		}
		seen[a.Key] = true
		return true
	})
	if twice != "" {
		h.dup.mu.Lock()
		h.dup.lines = append(h.dup.lines, fmt.Sprintf("%q: key %q", r.Message, twice))
		h.dup.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

// testConfig is DefaultServerConfig with the test's logger and handler.
func testConfig(t testing.TB, h http.Handler) ServerConfig {
	cfg := DefaultServerConfig()
	cfg.Handler = h
	cfg.Logger = testLogger(t)
	// Most tests drain connections their own clients have just used; the
	// default floor (500 ms after a connection's last answer) would add
	// about that to each drain. Tests of the floor, or under load, set
	// their own.
	cfg.IdleDrainGraceMin = 50 * time.Millisecond
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
