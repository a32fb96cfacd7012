package config

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/graceful"
	"github.com/gracekit/gracekit/internal/testcert"
)

func hello() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
}

// serve runs the servers until the test ends.
func serve(t *testing.T, servers []*graceful.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() { done <- s.Serve(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range servers {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
}

func get(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Proto + " " + string(b)
}

// freePort returns a TCP port that nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestNewServersHTTPAndHTTPS(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	s := DefaultServer()
	s.Address = "127.0.0.1:0"
	s.HTTPSAddress = "127.0.0.1:" + freePort(t) // not the same address: a Process names sockets by address
	s.CertFile, s.KeyFile = pair.CertFile, pair.KeyFile
	s.MaxHeaderBytes = 2048
	servers, err := s.NewServers(nil, hello(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || servers[0].IsHttps() || !servers[1].IsHttps() {
		t.Fatalf("servers: %d, https %v", len(servers), len(servers) == 2 && servers[1].IsHttps())
	}
	serve(t, servers)
	if got := get(t, http.DefaultClient, "http://"+servers[0].GetListenedAddress()); got != "HTTP/1.1 hello" {
		t.Errorf("HTTP: %q", got)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}, ForceAttemptHTTP2: true}}
	if got := get(t, client, "https://"+servers[1].GetListenedAddress()); got != "HTTP/2.0 hello" {
		t.Errorf("HTTPS: %q", got)
	}
	// maxHeaderBytes reached the server: net/http allows 4096 bytes of
	// slack on top of the limit.
	req, _ := http.NewRequest("GET", "http://"+servers[0].GetListenedAddress(), nil)
	req.Header.Set("X-Big", strings.Repeat("x", 20000))
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("big header: status %d", resp.StatusCode)
	}
}

func TestNewServersClosesWhatItBuilt(t *testing.T) {
	port := freePort(t)
	s := DefaultServer()
	s.Address = "127.0.0.1:" + port
	s.HTTPSAddress = "127.0.0.1:0"
	s.CertFile, s.KeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	servers, err := s.NewServers(nil, hello(), nil)
	if err == nil || servers != nil {
		t.Fatalf("got %d servers, %v", len(servers), err)
	}
	if !strings.Contains(err.Error(), "config: HTTPS server on 127.0.0.1:0: ") || !strings.Contains(err.Error(), "read TLS certificate") {
		t.Errorf("error: %v", err)
	}
	// The HTTP server built first has been closed: its port is free.
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the HTTP server's port is still taken: %v", err)
	}
	ln.Close()
}

func TestNewServersValidates(t *testing.T) {
	s := DefaultServer()
	s.Address = "localhost"
	s.CertFile = "c.pem"
	_, err := s.NewServers(nil, hello(), nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	sameLines(t, "problems", keyMessages(e.Problems), []string{
		`server.address: "localhost" is not an address (missing port in address): write "host:port", ":port", ":0" for any free port, "unix:/absolute/path.sock", or "systemd:NAME" for a socket systemd passes`,
		`server.certFile: "c.pem" is set but keyFile is empty: a certificate needs its private key; set both or neither`,
	})
}

func TestNewServersWithProcess(t *testing.T) {
	p, err := graceful.NewProcess(graceful.DefaultProcessConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultServer()
	s.Address = "127.0.0.1:0"
	servers, err := s.NewServers(p, hello(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || servers[0].GetListenedAddress() == "" {
		t.Fatalf("servers %v: the process should have bound the listener", servers)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for servers[0].Status() != graceful.ServerStatusRunning && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(t, http.DefaultClient, "http://"+servers[0].GetListenedAddress()); got != "HTTP/1.1 hello" {
		t.Errorf("HTTP: %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestNewServersHTTPSWithProcess(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	p, err := graceful.NewProcess(graceful.DefaultProcessConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultServer()
	// A process names its listeners by address for the next generation,
	// so its two servers need two address strings.
	s.Address = "127.0.0.1:0"
	s.HTTPSAddress = "localhost:0"
	s.CertFile, s.KeyFile = pair.CertFile, pair.KeyFile
	servers, err := s.NewServers(p, hello(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || !servers[1].IsHttps() {
		t.Fatalf("servers %v", servers)
	}
}
