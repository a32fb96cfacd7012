package load

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/gracekit/gracekit/internal/testcert"
)

// BenchmarkTLSHandshake measures what one reconnect of the idle lane's
// TLS clients costs both ends on this machine: a handshake with the
// lane's kind of certificate (ECDSA P-256), a byte each way and a close,
// over loopback TCP, full or resumed, with Go's default key exchange or
// X25519 alone. It backs the lane's reading that a TLS reconnect wave is
// bound by the CPU, and that resuming saves little of it:
//
//	GOMAXPROCS=1 go test -run '^$' -bench TLSHandshake -count 3 ./internal/load
func BenchmarkTLSHandshake(b *testing.B) {
	pair := testcert.Write(b, b.TempDir())
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := tls.Server(c, server)
				if _, err := s.Write([]byte("x")); err != nil {
					return
				}
				_, _ = io.ReadFull(s, make([]byte, 1))
			}()
		}
	}()
	for _, kx := range []struct {
		name   string
		curves []tls.CurveID
	}{{"default", nil}, {"x25519", []tls.CurveID{tls.X25519}}} {
		for _, resume := range []bool{false, true} {
			name := kx.name + "/full"
			cfg := pair.ClientConfig()
			cfg.CurvePreferences = kx.curves
			if resume {
				name = kx.name + "/resumed"
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			b.Run(name, func(b *testing.B) {
				reconnect(b, ln.Addr().String(), cfg) // a session to resume
				for b.Loop() {
					if got := reconnect(b, ln.Addr().String(), cfg); got != resume {
						b.Fatalf("resumed %v, want %v", got, resume)
					}
				}
			})
		}
	}
}

// reconnect makes one connection: handshake, a byte each way, close. It
// reports whether the session was resumed.
func reconnect(b *testing.B, addr string, cfg *tls.Config) bool {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Write([]byte("y")); err != nil {
		b.Fatal(err)
	}
	return c.ConnectionState().DidResume
}
