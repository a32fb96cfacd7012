package testcert

import (
	"crypto/tls"
	"os"
	"testing"
)

// TestPairServesAVerifiedHandshake checks the files load as a server key
// pair, the key is private to its owner, and a client trusting only Pool
// completes a handshake with it over loopback.
func TestPairServesAVerifiedHandshake(t *testing.T) {
	p := Write(t, t.TempDir())
	fi, err := os.Stat(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("key file mode = %o, want 600", mode)
	}
	kp, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), p.ClientConfig())
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if got := c.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("ALPN = %q, want http/1.1", got)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

// TestNewReportsAnUnwritableDir checks New returns an error naming the
// file rather than a pair whose files do not exist.
func TestNewReportsAnUnwritableDir(t *testing.T) {
	if _, err := New(t.TempDir() + "/missing"); err == nil {
		t.Fatal("New in a missing directory succeeded")
	}
}
