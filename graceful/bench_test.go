package graceful

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// benchHandler is the handler both servers of the benchmark serve.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

// roundTrips sends b.N keep-alive GETs over one connection to addr.
func roundTrips(b *testing.B, addr string) {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}

// BenchmarkKeepAliveGET compares the cost of a request behind a plain
// http.Server and behind a graceful.Server with the same handler and
// timeouts:
//
//	go test -run '^$' -bench KeepAliveGET -benchmem -count 6 ./graceful
func BenchmarkKeepAliveGET(b *testing.B) {
	b.Run("net-http", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		// The same timeouts as graceful's defaults: each one costs a
		// deadline per request, which is not the library's overhead.
		d := DefaultServerConfig()
		srv := &http.Server{
			Handler:           benchHandler,
			ReadTimeout:       d.ReadTimeout,
			ReadHeaderTimeout: d.ReadHeaderTimeout,
			IdleTimeout:       d.IdleTimeout,
			MaxHeaderBytes:    d.MaxHeaderBytes,
		}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		roundTrips(b, ln.Addr().String())
	})
	b.Run("graceful", func(b *testing.B) {
		s, errc := serveBench(b, benchHandler)
		defer func() {
			_ = s.Close(context.Background())
			<-errc
		}()
		roundTrips(b, s.GetListenedAddress())
	})
}

// serveBench starts a graceful.Server with h and the default settings on
// a loopback port; Serve's result arrives on the channel.
func serveBench(b *testing.B, h http.Handler) (*Server, <-chan error) {
	b.Helper()
	cfg := DefaultServerConfig()
	cfg.Handler = h
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := New("127.0.0.1:0", 0, cfg)
	if err := s.CreateListener(); err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	return s, errc
}
