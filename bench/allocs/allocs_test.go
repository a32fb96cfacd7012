package allocs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/graceful"
)

// serveNetHTTP starts a plain http.Server and returns its address.
func serveNetHTTP(tb testing.TB) string {
	return serveHTTPServer(tb, &http.Server{Handler: handler.New(handler.Options{}), ReadHeaderTimeout: 10 * time.Second})
}

// serveNetHTTPTimeouts starts a plain http.Server with graceful's default
// timeouts: each one sets a deadline per request, a cost of the settings,
// not of the library.
func serveNetHTTPTimeouts(tb testing.TB) string {
	d := graceful.DefaultServerConfig()
	return serveHTTPServer(tb, &http.Server{
		Handler:           handler.New(handler.Options{}),
		ReadTimeout:       d.ReadTimeout,
		ReadHeaderTimeout: d.ReadHeaderTimeout,
		WriteTimeout:      d.WriteTimeout,
		IdleTimeout:       d.IdleTimeout,
		MaxHeaderBytes:    d.MaxHeaderBytes,
	})
}

func serveHTTPServer(tb testing.TB, srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// serveGraceful starts a graceful.Server with the same handler.
func serveGraceful(tb testing.TB) string {
	cfg := graceful.DefaultServerConfig()
	cfg.Handler = handler.New(handler.Options{Draining: graceful.Draining})
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv := graceful.New("127.0.0.1:0", 0, cfg)
	if err := srv.CreateListener(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("graceful.Server did not stop")
		}
	})
	return srv.GetListenedAddress()
}

// rawClient sends keep-alive GETs and reads the answers into a reused
// buffer, without allocating per request.
type rawClient struct {
	conn net.Conn
	buf  []byte
	req  []byte
}

func dial(tb testing.TB, addr string) *rawClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return &rawClient{conn: conn, buf: make([]byte, 8192), req: []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")}
}

var (
	headerEnd     = []byte("\r\n\r\n")
	contentLength = []byte("\r\nContent-Length: ")
	status200     = []byte("HTTP/1.1 200 ")
)

// get sends one request and reads one whole answer.
func (c *rawClient) get() error {
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.conn.Read(c.buf[n:])
		if err != nil {
			return err
		}
		n += m
		end := bytes.Index(c.buf[:n], headerEnd)
		if end < 0 {
			if n == len(c.buf) {
				return errors.New("header too long")
			}
			continue
		}
		if !bytes.HasPrefix(c.buf, status200) {
			return errors.New("not 200: " + string(c.buf[:min(n, 40)]))
		}
		i := bytes.Index(c.buf[:end+2], contentLength)
		if i < 0 {
			return errors.New("no Content-Length")
		}
		j := i + len(contentLength)
		k := bytes.IndexByte(c.buf[j:end+2], '\r')
		length, err := strconv.Atoi(string(c.buf[j : j+k]))
		if err != nil {
			return err
		}
		for n < end+4+length {
			m, err := c.conn.Read(c.buf[n:])
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	}
}

func benchServer(b *testing.B, addr string) {
	c := dial(b, addr)
	if err := c.get(); err != nil { // warm the connection up
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.get(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServer compares one keep-alive GET / served by net/http (with
// and without graceful's default timeouts) and by graceful.Server. The
// subtests run in each invocation, one after the other.
func BenchmarkServer(b *testing.B) {
	b.Run("nethttp", func(b *testing.B) { benchServer(b, serveNetHTTP(b)) })
	b.Run("nethttp+timeouts", func(b *testing.B) { benchServer(b, serveNetHTTPTimeouts(b)) })
	b.Run("graceful", func(b *testing.B) { benchServer(b, serveGraceful(b)) })
}

// TestClientReadsWholeAnswers checks the raw client against both servers.
func TestClientReadsWholeAnswers(t *testing.T) {
	for name, serve := range map[string]func(testing.TB) string{"nethttp": serveNetHTTP, "nethttp+timeouts": serveNetHTTPTimeouts, "graceful": serveGraceful} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, serve(t))
			for range 3 {
				if err := c.get(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
