package graceful

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
	"github.com/gracekit/gracekit/internal/testcert"
)

func protoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, r.Proto)
	})
}

func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	given := &tls.Config{ServerName: "keep-me"}
	before := given.Clone()

	s := New("127.0.0.1:0", 0, testConfig(t, protoHandler()))
	if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile, given); err != nil {
		t.Fatal(err)
	}
	if !s.IsHttps() {
		t.Error("IsHttps is false after CreateListenerTLS")
	}
	serve(t, s)
	if !reflect.DeepEqual(given, before) {
		t.Error("CreateListenerTLS modified the caller's tls.Config")
	}

	url := "https://" + s.GetListenedAddress() + "/"
	for _, tc := range []struct {
		name  string
		h2    bool
		proto string
	}{{"http2", true, "HTTP/2.0"}, {"http1", false, "HTTP/1.1"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}, ForceAttemptHTTP2: tc.h2}
		if !tc.h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(body) != tc.proto || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("%s: served %q over %+v, want %s over TLS >= 1.2", tc.name, body, resp.TLS, tc.proto)
		}
	}

	old := &tls.Config{RootCAs: pair.Pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: old}, Timeout: 10 * time.Second}
	if resp, err := c.Get(url); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

func TestTLSErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	a := testcert.Write(t, filepath.Join(mkdir(t, dir, "a")))
	b := testcert.Write(t, filepath.Join(mkdir(t, dir, "b")))
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file above the bound, sparse: reading it whole would take 1 GiB.
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<30); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), a.KeyFile, "read TLS certificate"},
		{"missing key", a.CertFile, filepath.Join(dir, "nope.pem"), "read TLS key"},
		{"mismatched", a.CertFile, b.KeyFile, "private key does not match public key"},
		{"garbage", garbage, a.KeyFile, "garbage.pem"},
		{"a device", os.DevNull, a.KeyFile, os.DevNull + " is not a regular file"},
		{"huge key", a.CertFile, huge, "huge.pem is larger than 1048576 bytes"},
		{"only cert", a.CertFile, "", "both a certificate file and a key file"},
		{"nothing", "", "", "TLS needs a certificate"},
	}
	for _, tc := range cases {
		s := New("127.0.0.1:0", 0, testConfig(t, nil))
		err := s.CreateListenerTLS(tc.cert, tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if s.GetListenedAddress() != "" {
			t.Errorf("%s: a listener was bound despite the error", tc.name)
		}
	}
	s := New("127.0.0.1:0", 0, testConfig(t, nil))
	if err := s.CreateListenerTLS("", "", &tls.Config{}, &tls.Config{}); err == nil {
		t.Error("two tls.Configs accepted")
	}
}

func TestTLSConfigWithCertificatesOnly(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := New("127.0.0.1:0", 0, testConfig(t, protoHandler()))
	if err := s.CreateListenerTLS("", "", &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + s.GetListenedAddress() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
}

// TestTLSShutdownLosesNothing drains an HTTPS server under HTTP/1.1 load.
func TestTLSShutdownLosesNothing(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	cfg := testConfig(t, protoHandler())
	cfg.Logger = testLoggerQuiet(t)
	cfg.IdleDrainGraceMin = cfg.IdleDrainGrace // as in TestShutdownLosesNothingUnderLoad
	s := New("127.0.0.1:0", 0, cfg)
	if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile); err != nil {
		t.Fatal(err)
	}
	errc := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan *loadgen.Result, 1)
	go func() {
		done <- loadgen.Run(ctx, loadgen.Options{
			Address:       s.GetListenedAddress(),
			TLS:           &tls.Config{RootCAs: pair.Pool, NextProtos: []string{"http/1.1"}},
			Clients:       [loadgen.NumKinds]int{loadgen.KeepAliveGet: 3, loadgen.KeepAlivePost: 3},
			StopOnRefused: true,
		})
	}()
	waitFor(t, "load to reach the server", 10*time.Second, func() bool { return s.Stats().TotalRequests > 200 })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", r.Summary())
	for _, f := range r.Failures {
		t.Errorf("lost request: %s", f)
	}
}

// TestHTTP2ShutdownCompletesStreams checks that an HTTP/2 request in
// flight finishes and the client sees a clean end (GOAWAY), not a reset.
func TestHTTP2ShutdownCompletesStreams(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := New("127.0.0.1:0", 0, testConfig(t, blockingHandler(started, release)))
	if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile); err != nil {
		t.Fatal(err)
	}
	errc := serve(t, s)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type answer struct {
		proto, body string
		err         error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := c.Get("https://" + s.GetListenedAddress() + "/")
		if err != nil {
			answers <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers <- answer{resp.Proto, string(b), err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", 5*time.Second, func() bool { return s.Stats().Draining })
	close(release)
	a := <-answers
	if a.err != nil || a.proto != "HTTP/2.0" || a.body != "done" {
		t.Fatalf("HTTP/2 request in flight: %+v", a)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSetIsHttpsOnATLSListener: a listener in ServerConfig.Listeners that
// already speaks TLS, marked with SetIsHttps(true), is served as it is.
func TestSetIsHttpsOnATLSListener(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, protoHandler())
	cfg.Listeners = []net.Listener{tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}})}
	s := New("", 0, cfg)
	s.SetIsHttps(true)
	errc := serve(t, s)
	if !s.IsHttps() {
		t.Error("IsHttps is false after SetIsHttps(true)")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}}}
	resp, err := client.Get("https://" + raw.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "HTTP/1.1" {
		t.Errorf("HTTPS on the TLS listener: %d %q", resp.StatusCode, body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestTLSSessionsResumeAcrossGenerations: two servers whose session-ticket
// keys come from the same lineage secret (two generations of one service)
// resume each other's sessions; a server of another service does not.
func TestTLSSessionsResumeAcrossGenerations(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	l := newLineage()
	other := newLineage()
	start := func(lin *lineage) *Server {
		s := New("127.0.0.1:0", 0, testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		})))
		s.tickets = &ticketKeyer{l: lin}
		if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile); err != nil {
			t.Fatal(err)
		}
		serve(t, s)
		return s
	}
	old, next, stranger := start(l), start(&lineage{secret: l.secret}), start(other)
	cache := tls.NewLRUClientSessionCache(8)
	resumed := func(s *Server) bool {
		t.Helper()
		c, err := tls.Dial("tcp", s.GetListenedAddress(), &tls.Config{RootCAs: pair.Pool, ServerName: "127.0.0.1", ClientSessionCache: cache, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// TLS 1.3 tickets arrive after the handshake: a request reads them.
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(c)
		return c.ConnectionState().DidResume
	}
	if resumed(old) {
		t.Fatal("the first connection resumed a session")
	}
	if !resumed(next) {
		t.Error("a session from one generation did not resume with the next")
	}
	if resumed(stranger) {
		t.Error("a session resumed with a server of another service")
	}
}
