package graceful

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

func TestShutdownWaitsForRequestInFlight(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, release)))
	errc := serve(t, s)

	type answer struct {
		code int
		body string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		code, body, err := get("http://" + s.GetListenedAddress() + "/")
		answers <- answer{code, body, err}
	}()
	<-started

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", 5*time.Second, func() bool { return s.Stats().Draining })

	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	case err := <-errc:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := s.Status(); got != ServerStatusRunning {
		t.Errorf("Status while draining = %v, want running", got)
	}

	close(release)
	a := <-answers
	if a.err != nil || a.code != http.StatusOK || a.body != "done" {
		t.Fatalf("request in flight got (%d, %q, %v), want (200, \"done\", nil)", a.code, a.body, a.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve after graceful shutdown = %v, want nil", err)
	}
	if got := s.Status(); got != ServerStatusStopped {
		t.Errorf("Status after shutdown = %v, want stopped", got)
	}
	if d := s.Stats().Drain; !d.Finished || d.CutConns != 0 || d.CutRequests != 0 {
		t.Errorf("drain stats = %+v, want finished with nothing cut", d)
	}
}

func TestShutdownRefusesNewConnections(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, release)))
	errc := serve(t, s)
	addr := s.GetListenedAddress()

	go func() { _, _, _ = get("http://" + addr + "/") }()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// A connection that arrives once shutdown has begun, but before the
	// listener refuses new ones, is queued and served: wait for the latter.
	waitFor(t, "shutdown to refuse new connections", 5*time.Second, func() bool { return s.Stats().Draining && refusingNew(s) })

	// A connection that never opens: on Linux the socket drops the SYN
	// while the queue is served, then closes (refused); elsewhere it is
	// refused at once.
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("dial during a final drain connected")
	}
	var ne net.Error
	if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial during drain: got %v, want a timeout (the SYN dropped) or connection refused", err)
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after the shutdown: got %v, want connection refused", err)
	}
}

func TestShutdownTimeoutCutsStragglers(t *testing.T) {
	started := make(chan struct{}, 1)
	never := make(chan struct{})
	cfg := testConfig(t, blockingHandler(started, never))
	cfg.GracefulShutdownTimeout = 200 * time.Millisecond
	s := New("127.0.0.1:0", 0, cfg)
	errc := serve(t, s)

	clientErr := make(chan error, 1)
	go func() {
		_, _, err := get("http://" + s.GetListenedAddress() + "/")
		clientErr <- err
	}()
	<-started

	begin := time.Now()
	err := s.Shutdown(context.Background())
	took := time.Since(begin)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "cut 1 connections carrying 1 requests") {
		t.Errorf("Shutdown error %q does not count what it cut", err)
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("Shutdown took %s, want about the 200ms timeout", took)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve after a timed-out shutdown = %v, want nil", err)
	}
	if err := <-clientErr; err == nil {
		t.Fatal("the cut request succeeded")
	}
	d := s.Stats().Drain
	if d.CutConns != 1 || d.CutRequests != 1 {
		t.Errorf("drain stats = %+v, want 1 connection and 1 request cut", d)
	}
}

func TestShutdownContextCutsDrain(t *testing.T) {
	started := make(chan struct{}, 1)
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, make(chan struct{}))))
	errc := serve(t, s)
	go func() { _, _, _ = get("http://" + s.GetListenedAddress() + "/") }()
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with an expiring context = %v, want context.DeadlineExceeded", err)
	}
	if s.Status() != ServerStatusStopped {
		t.Fatal("server still running after Shutdown returned")
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeContextCancelDrains(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, release)))
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx) }()
	waitRunning(t, s)

	answers := make(chan string, 1)
	go func() {
		_, body, _ := get("http://" + s.GetListenedAddress() + "/")
		answers <- body
	}()
	<-started
	cancel()
	waitFor(t, "shutdown to begin", 5*time.Second, func() bool { return s.Stats().Draining })
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v before the drain finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if body := <-answers; body != "done" {
		t.Fatalf("request in flight got %q, want done", body)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
}

// TestShutdownLosesNothingUnderLoad shuts a server down while three kinds
// of non-retrying clients hammer it. A client whose dial is refused stops
// (the server is gone, nothing was sent); any request that was written
// and not answered is a failure.
func TestShutdownLosesNothingUnderLoad(t *testing.T) {
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, "ok %d", n)
			})
			cfg := testConfig(t, mux)
			cfg.Logger = testLoggerQuiet(t)
			// A keep-alive client stalled by a busy machine (-race, stress)
			// past the default floor (500 ms after its answer) would send
			// its next request as its idle connection is closed: the race
			// IdleDrainGrace bounds, not a loss of the drain. Every idle
			// connection gets the full grace.
			cfg.IdleDrainGraceMin = cfg.IdleDrainGrace
			s := New("127.0.0.1:0", 0, cfg)
			errc := serve(t, s)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan *loadgen.Result, 1)
			go func() {
				done <- loadgen.Run(ctx, loadgen.Options{
					Address:       s.GetListenedAddress(),
					Clients:       [loadgen.NumKinds]int{loadgen.KeepAliveGet: 4, loadgen.KeepAlivePost: 4, loadgen.NewConnGet: 4},
					StopOnRefused: true,
				})
			}()
			waitFor(t, "load to reach the server", 5*time.Second, func() bool { return s.Stats().TotalRequests > 500 })
			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			r := <-done
			if err := recvErr(t, errc, 5*time.Second); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			d := s.Stats().Drain
			t.Logf("load: %s; drain: %+v", r.Summary(), d)
			for _, f := range r.Failures {
				// Closing the last listener of a socket makes the kernel
				// reset the connections still in its accept queue: the
				// server never saw them. That is the only reset allowed,
				// and only when the server itself closed nothing.
				if f.Kind == loadgen.NewConnGet && f.Class == loadgen.Reset && !f.Answered && d.IdleClosed == 0 && d.CutConns == 0 {
					t.Logf("connection reset in the accept queue: %s", f)
					continue
				}
				t.Errorf("lost request: %s", f)
			}
			if ctx.Err() != nil {
				t.Fatal("clients still running when the test timed out: shutdown did not stop them")
			}
		})
	}
}

func TestIdleKeepAliveConnectionGetsGrace(t *testing.T) {
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	cfg.IdleDrainGrace = 300 * time.Millisecond
	cfg.IdleDrainGraceMin = cfg.IdleDrainGrace // the same grace for every connection
	s := New("127.0.0.1:0", 0, cfg)
	errc := serve(t, s)

	// Two keep-alive connections: one sends again within the grace, one
	// stays idle.
	talker := dialHTTP(t, s.GetListenedAddress())
	sleeper := dialHTTP(t, s.GetListenedAddress())
	for _, c := range []*rawConn{talker, sleeper} {
		if resp := c.roundTrip(t); resp.Close {
			t.Fatal("response before shutdown asked to close the connection")
		}
	}
	waitFor(t, "both connections idle", 5*time.Second, func() bool { return s.Stats().IdleConns == 2 })

	// A connection idle when the drain begins is due its grace from the
	// drain's start, which comes after begin.
	begin := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", 5*time.Second, func() bool { return s.Stats().Draining })

	if resp := talker.roundTrip(t); !resp.Close {
		t.Error("response during drain did not carry Connection: close")
	}
	talker.conn.Close() // as a client told to close does
	// The sleeper's connection is closed by the server after the grace.
	_ = sleeper.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := sleeper.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read = %v, want EOF", err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Errorf("idle connection closed %s after the drain began, before its 300ms grace", took)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := s.Stats().Drain; d.IdleClosed != 1 || d.ServedWhileDraining != 1 {
		t.Errorf("drain stats = %+v, want 1 idle connection closed and 1 request served while draining", d)
	}
}

func TestHijackedConnectionNotifiedThenClosed(t *testing.T) {
	goodbye := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		drain := Draining(r.Context())
		wg.Go(func() {
			// A stubborn stream: it says goodbye when told but never
			// closes, so the server must close it after the grace.
			<-drain
			_, _ = io.WriteString(conn, "goodbye\n")
			close(goodbye)
		})
	})
	cfg := testConfig(t, h)
	cfg.HijackedGrace = 200 * time.Millisecond
	s := New("127.0.0.1:0", 0, cfg)
	errc := serve(t, s)

	c := dialHTTP(t, s.GetListenedAddress())
	if resp := c.roundTrip(t); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d", resp.StatusCode)
	}
	waitFor(t, "the hijacked connection to be counted", 5*time.Second, func() bool { return s.Stats().HijackedConns == 1 })

	begin := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-goodbye
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.br.ReadString('\n')
	if line != "goodbye\n" {
		t.Fatalf("hijacked stream read %q, %v; want the handler's goodbye", line, err)
	}
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("hijacked stream after goodbye: %v, want EOF (closed by the server)", err)
	}
	if took := time.Since(begin); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("hijacked connection closed after %s, want about the 200ms grace", took)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := s.Stats().Drain; d.HijackedClosed != 1 || d.CutConns != 0 {
		t.Errorf("drain stats = %+v, want 1 hijacked connection closed and nothing cut", d)
	}
}

func TestHijackedConnectionClosedByHandlerEndsDrainEarly(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		drain := Draining(r.Context())
		go func() {
			<-drain
			_ = conn.Close()
		}()
	})
	cfg := testConfig(t, h)
	cfg.HijackedGrace = time.Minute
	s := New("127.0.0.1:0", 0, cfg)
	serve(t, s)
	c := dialHTTP(t, s.GetListenedAddress())
	c.send(t)
	waitFor(t, "the hijacked connection to be counted", 5*time.Second, func() bool { return s.Stats().HijackedConns == 1 })
	begin := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Shutdown took %s although the handler closed its stream at once", took)
	}
	if d := s.Stats().Drain; d.HijackedClosed != 0 {
		t.Errorf("server closed %d hijacked connections the handler had closed", d.HijackedClosed)
	}
}

func TestShutdownAndCloseAreIdempotentAndConcurrent(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, http.NotFoundHandler()))
	errc := serve(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = s.Shutdown(context.Background())
			} else {
				err = s.Close(context.Background())
			}
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after stop: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("Close after stop: %v", err)
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, nil))
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	addr := s.GetListenedAddress()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Serve: %v", err)
	}
	if err := s.Serve(context.Background()); !isClosedErr(err) {
		t.Fatalf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("listener still open after Shutdown before Serve: %v", err)
	}
	if err := s.CreateListener(); !isClosedErr(err) {
		t.Fatalf("CreateListener after Shutdown = %v, want ErrServerClosed", err)
	}

	c := New("127.0.0.1:0", 0, testConfig(t, nil))
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close before Serve: %v", err)
	}
	if err := c.Serve(context.Background()); !isClosedErr(err) {
		t.Fatalf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

func TestCloseCutsAtOnce(t *testing.T) {
	started := make(chan struct{}, 1)
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, make(chan struct{}))))
	errc := serve(t, s)
	clientErr := make(chan error, 1)
	go func() {
		_, _, err := get("http://" + s.GetListenedAddress() + "/")
		clientErr <- err
	}()
	<-started
	begin := time.Now()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Close took %s", took)
	}
	if err := <-clientErr; err == nil {
		t.Error("request in flight survived Close")
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatalf("Serve after Close = %v, want nil", err)
	}
}

// rawConn is a hand-driven HTTP/1.1 client connection.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialHTTP(t testing.TB, addr string) *rawConn {
	t.Helper()
	return dialNetwork(t, "tcp", addr)
}

// dialNetwork is dialHTTP on another network (a unix socket's path).
func dialNetwork(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// closingAnswer reads the answer to a request for path, made by a
// handler that writes the path back, and checks that it tells the client
// to close: what a request that comes during a drain gets.
func (c *rawConn) closingAnswer(t testing.TB, what, path string) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != path || !resp.Close {
		t.Fatalf("%s: %q, Connection: close %v", what, body, resp.Close)
	}
}

func (c *rawConn) roundTrip(t testing.TB) *http.Response {
	t.Helper()
	c.send(t)
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return resp
}

// TestIdleGraceFollowsTheRoundTrip: an idle connection on loopback, whose
// round trip is microseconds, is closed after the floor of the grace, not
// after its ceiling (a minute here); so is one on a unix socket, whose
// peer is on this machine.
func TestIdleGraceFollowsTheRoundTrip(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			cfg.IdleDrainGrace = time.Minute
			cfg.IdleDrainGraceMin = 10 * time.Millisecond
			addr, dial := "127.0.0.1:0", ""
			if network == "unix" {
				dial = filepath.Join(t.TempDir(), "s.sock")
				addr = "unix:" + dial
			}
			s := New(addr, 0, cfg)
			serve(t, s)
			if dial == "" {
				dial = s.GetListenedAddress()
			}
			c := dialNetwork(t, network, dial)
			c.roundTrip(t)
			waitFor(t, "the connection to be idle", 5*time.Second, func() bool { return s.Stats().IdleConns == 1 })
			shut := make(chan error, 1)
			go func() { shut <- s.Shutdown(context.Background()) }()
			_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("idle connection: read = %v, want EOF well before the minute of the ceiling", err)
			}
			if err := <-shut; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAClientStalledWithinTheFloorIsAnswered: a keep-alive client that
// sends its next request a while after its answer (kept off a CPU), the
// drain having begun in between, gets that request answered with
// "Connection: close": the floor counts from the answer, which the kernel
// tells, and a connection answered just before the drain is not closed
// after its round trip alone.
func TestAClientStalledWithinTheFloorIsAnswered(t *testing.T) {
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	cfg.IdleDrainGrace = time.Minute
	cfg.IdleDrainGraceMin = 30 * time.Second
	s := New("127.0.0.1:0", 0, cfg)
	serve(t, s)
	c := dialHTTP(t, s.GetListenedAddress())
	c.roundTrip(t)
	waitFor(t, "the connection to be idle", 5*time.Second, func() bool { return s.Stats().IdleConns == 1 })
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "the drain to begin", 5*time.Second, func() bool { return s.Stats().Draining })
	// Nothing tells that the drain has decided to leave the connection
	// open: a stall, many times its round trip's grace on loopback.
	time.Sleep(100 * time.Millisecond)
	if _, err := io.WriteString(c.conn, "GET /next HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.closingAnswer(t, "the stalled client's next request", "/next")
	_ = c.conn.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestIdleClosingIsSpread: connections idle when the drain begins get
// offsets in equal steps over the spread window, bounded by what their
// reconnections cost.
func TestIdleClosingIsSpread(t *testing.T) {
	tr := newConnTracker()
	var conns []*conn
	for range 100 {
		c := &conn{}
		c.state.Store(int32(http.StateIdle))
		tr.add(c)
		conns = append(conns, c)
	}
	tr.spreadIdle(time.Second, time.Millisecond)
	seen := map[time.Duration]bool{}
	for _, c := range conns {
		if c.spread < 0 || c.spread >= 100*time.Millisecond {
			t.Fatalf("offset %s outside the window of 100 x 1ms", c.spread)
		}
		seen[c.spread] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct offsets for 100 connections", len(seen))
	}
}

// woken counts the connections whose reader the drain has woken to
// close them (see conn.wake).
func woken(conns []*conn) int {
	n := 0
	for _, c := range conns {
		if c.interrupt.Load() {
			n++
		}
	}
	return n
}

// idlePipeConns adds n idle connections over pipes to tr.
func idlePipeConns(t *testing.T, tr *connTracker, n int) []*conn {
	conns := make([]*conn, n)
	for i := range conns {
		a, b := net.Pipe()
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		c := &conn{Conn: a, raw: a}
		c.state.Store(int32(http.StateIdle))
		tr.add(c)
		conns[i] = c
	}
	return conns
}

// TestIdleClosingStaysWithinTheCeiling: connections idle when the drain
// begins are closed (their readers woken to close them) no earlier than
// their grace and, whatever their place in the spread, no later than the
// ceiling (IdleDrainGrace) after the start.
func TestIdleClosingStaysWithinTheCeiling(t *testing.T) {
	tr := newConnTracker()
	const n = 50
	conns := idlePipeConns(t, tr, n)
	ceiling, g := time.Second, 50*time.Millisecond
	grace := func(*conn) time.Duration { return g }
	// A spread longer than the ceiling (100 ms a connection, a 2 s window).
	tr.spreadIdle(2*time.Second, 100*time.Millisecond)
	start := time.Now()
	ic := newIdleCloser(tr, start, grace, g, ceiling)
	r := ic.pass(start.Add(g-time.Millisecond), true)
	if w := woken(conns); w != 0 || r.remaining != n {
		t.Fatalf("before the grace: woken %d, remaining %d; want 0 and %d", w, r.remaining, n)
	}
	if r.next.Before(start.Add(g)) || r.next.After(start.Add(ceiling)) {
		t.Fatalf("next look at +%s, want within [+%s, +%s]", r.next.Sub(start), g, ceiling)
	}
	ic.pass(start.Add(ceiling/2), false)
	if w := woken(conns); w == 0 || w == n {
		t.Fatalf("half-way through the ceiling: woken %d of %d; want some (spread)", w, n)
	}
	ic.pass(start.Add(ceiling), false)
	if w := woken(conns); w != n {
		t.Fatalf("at the ceiling: %d of %d connections woken", w, n)
	}
}

// TestIdleCloserCountsTheFloorFromTheLastAnswer: an idle connection is
// never closed sooner than the floor after its last answer (its client
// may be about to send the next request, kept off a CPU), while one whose
// last answer is older than the floor when the drain begins is closed
// after its round trip's grace alone; one that goes idle in the drain
// gets the floor from then.
func TestIdleCloserCountsTheFloorFromTheLastAnswer(t *testing.T) {
	tr := newConnTracker()
	conns := idlePipeConns(t, tr, 3)
	g, floor, ceiling := time.Millisecond, 250*time.Millisecond, time.Second
	start := time.Now()
	conns[0].answered = start.Add(-time.Second)           // idle long before the drain
	conns[1].answered = start.Add(-10 * time.Millisecond) // answered just before it
	conns[2].state.Store(int32(http.StateActive))         // serving a request
	ic := newIdleCloser(tr, start, func(*conn) time.Duration { return g }, floor, ceiling)
	r := ic.pass(start, true)
	if r.remaining != 3 || woken(conns) != 0 {
		t.Fatalf("at the start: remaining %d, woken %d; want 3 and 0", r.remaining, woken(conns))
	}
	r = ic.pass(start.Add(g), false)
	if !conns[0].interrupt.Load() || conns[1].interrupt.Load() {
		t.Fatalf("after the round trip's grace: woken %v %v; want only the one idle since long before", conns[0].interrupt.Load(), conns[1].interrupt.Load())
	}
	if want := conns[1].answered.Add(floor); r.next.After(want) {
		t.Fatalf("next look at +%s, want by +%s (the floor after the last answer)", r.next.Sub(start), want.Sub(start))
	}
	// The third answers its request in the drain, and is idle from then.
	idle := start.Add(100 * time.Millisecond)
	conns[2].idleSince.Store(idle.UnixNano())
	conns[2].done.Add(1)
	conns[2].state.Store(int32(http.StateIdle))
	ic.pass(conns[1].answered.Add(floor-time.Millisecond), true)
	if conns[1].interrupt.Load() || conns[2].interrupt.Load() {
		t.Fatal("woken before the floor after its last answer")
	}
	ic.pass(conns[1].answered.Add(floor), false)
	if !conns[1].interrupt.Load() || conns[2].interrupt.Load() {
		t.Fatalf("at the floor after the second's answer: woken %v %v; want the second only", conns[1].interrupt.Load(), conns[2].interrupt.Load())
	}
	ic.pass(idle.Add(floor), true)
	if !conns[2].interrupt.Load() {
		t.Fatal("the connection idle since its answer in the drain was not woken at the floor after it")
	}
}

// TestIdleCloserLooksAgainAtWhatChanged: a connection that was idle when
// the drain last looked at every connection, and is due, is not closed
// on the timer if part of a next request has arrived since (it is looked
// at again later), nor if a request is being served (it waits for that
// request's end); remaining counts both. One whose reader it woke is
// looked at again soon, and dropped once closed.
func TestIdleCloserLooksAgainAtWhatChanged(t *testing.T) {
	tr := newConnTracker()
	conns := idlePipeConns(t, tr, 3)
	g := 50 * time.Millisecond
	start := time.Now()
	ic := newIdleCloser(tr, start, func(*conn) time.Duration { return g }, g, time.Second)
	if r := ic.pass(start, true); r.remaining != 3 || woken(conns) != 0 {
		t.Fatalf("at the start: remaining %d, woken %d; want 3 and 0", r.remaining, woken(conns))
	}
	conns[0].begun.Add(1)                         // the first byte of a request
	conns[1].state.Store(int32(http.StateActive)) // a request being served
	r := ic.pass(start.Add(g), false)
	if !conns[2].interrupt.Load() || conns[0].interrupt.Load() || conns[1].interrupt.Load() || r.remaining != 3 {
		t.Fatalf("at the grace: woken %v %v %v, remaining %d; want only the third, and 3", conns[0].interrupt.Load(), conns[1].interrupt.Load(), conns[2].interrupt.Load(), r.remaining)
	}
	if want := start.Add(g + wakeRecheck); !r.next.Equal(want) {
		t.Fatalf("next look at +%s, want +%s (the woken one)", r.next.Sub(start), want.Sub(start))
	}
	conns[2].state.Store(int32(http.StateClosed)) // its reader found it idle; net/http closed it
	r = ic.pass(r.next, false)
	if want := start.Add(g + activeRecheck); r.remaining != 2 || !r.next.Equal(want) {
		t.Fatalf("after the close: remaining %d, next +%s; want 2 and +%s (the partial request)", r.remaining, r.next.Sub(start), want.Sub(start))
	}
	conns[0].done.Add(1) // answered: idle again, and long due
	r = ic.pass(r.next, false)
	if !conns[0].interrupt.Load() || r.remaining != 2 {
		t.Fatalf("at the recheck: woken %v, remaining %d; want true and 2", conns[0].interrupt.Load(), r.remaining)
	}
}

// stuckCloser is a connection whose Close blocks until released, as a
// TLS connection's does while close_notify waits on a client that
// stopped reading (crypto/tls gives that write 5 s of its own).
type stuckCloser struct {
	net.Conn
	closing chan struct{} // closed when Close is called
	release chan struct{}
}

func newStuckCloser(t *testing.T) (*stuckCloser, net.Conn) {
	a, b := net.Pipe()
	s := &stuckCloser{Conn: a, closing: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(s.release); _ = b.Close() })
	return s, b
}

func (s *stuckCloser) Close() error {
	close(s.closing)
	<-s.release
	return s.Conn.Close()
}

// stuckWait is how long a test waits for a call that must not block on a
// stuck close before it says the call blocked: a bound for the failure,
// not part of a passing verdict.
const stuckWait = 30 * time.Second

// TestCutHijackedConnDoesNotWaitOnItsClient: a hijacked connection cut
// at the end of its grace is closed at the socket: a TLS close_notify to
// a client that stopped reading would hold the shutdown 5 s a connection.
func TestCutHijackedConnDoesNotWaitOnItsClient(t *testing.T) {
	tr := newConnTracker()
	stuck, _ := newStuckCloser(t)
	raw, peer := net.Pipe()
	t.Cleanup(func() { _ = raw.Close(); _ = peer.Close() })
	c := &conn{Conn: stuck, raw: raw}
	tr.hijack(c)
	done := make(chan int, 1)
	go func() { done <- tr.closeHijacked() }()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("closed %d hijacked connections, want 1", n)
		}
	case <-time.After(stuckWait):
		t.Fatal("cutting a hijacked connection waits for the TLS layer's close")
	}
	if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the client's end reads %v, want EOF (the socket closed)", err)
	}
}

// ownTimeout is a listener's own timeout error: a net.Error that does not
// wrap os.ErrDeadlineExceeded, which net/http's Serve retries.
type ownTimeout struct{}

func (ownTimeout) Error() string   { return "accept: my own timeout" }
func (ownTimeout) Timeout() bool   { return true }
func (ownTimeout) Temporary() bool { return true }

// ownTimeoutListener reports its deadline with ownTimeout, and says when
// it is closed.
type ownTimeoutListener struct {
	*net.TCPListener
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *ownTimeoutListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, ownTimeout{}
	}
	return c, err
}

func (l *ownTimeoutListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.TCPListener.Close()
}

// A configured listener turned away by a handover's drain ends its Serve
// at once, whatever error its deadline makes: net/http would otherwise
// retry it, logging each retry, until the drain closes the listener.
func TestUnitATurnedAwayListenerWithItsOwnTimeoutErrorIsDone(t *testing.T) {
	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln := &ownTimeoutListener{TCPListener: tl, closed: make(chan struct{})}
	cfg := testConfig(t, http.NotFoundHandler())
	cfg.Listeners = []net.Listener{ln}
	s := New("", 0, cfg)
	errc := serve(t, s)
	r, d, drain := s.stopAccepting(false, false)
	if drain == nil {
		t.Fatal("stopAccepting of a serving server returned no drain")
	}
	// The drain has not run: only net/http's Serve, done with the
	// listener, closes it now.
	select {
	case <-ln.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the turned-away listener was not closed within 10s of stopAccepting: net/http is retrying its timeout")
	}
	go drain()
	if err := s.awaitStop(context.Background(), r, d); err != nil {
		t.Fatalf("awaitStop: %v", err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
