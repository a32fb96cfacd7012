package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreePortReporting(t *testing.T) {
	s := New(FreePortAddress, 0, testConfig(t, nil))
	if got := s.GetListenedPort(); got != -1 {
		t.Errorf("GetListenedPort before listening = %d, want -1", got)
	}
	if got := s.GetListenedAddress(); got != "" {
		t.Errorf("GetListenedAddress before listening = %q, want empty", got)
	}
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	port := s.GetListenedPort()
	if port <= 0 || port > 65535 {
		t.Fatalf("GetListenedPort = %d, want the picked port", port)
	}
	if !strings.HasSuffix(s.GetListenedAddress(), ":"+strconv.Itoa(port)) {
		t.Errorf("GetListenedAddress = %q does not end in the port %d", s.GetListenedAddress(), port)
	}
	if s.GetAddress() != FreePortAddress {
		t.Errorf("GetAddress = %q, want %q", s.GetAddress(), FreePortAddress)
	}
}

func TestSeveralListenersReportNoSinglePort(t *testing.T) {
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	cfg.Listeners = lns
	s := New("", 0, cfg)
	serve(t, s)
	if got := s.GetListenedPort(); got != -1 {
		t.Errorf("GetListenedPort with two listeners = %d, want -1", got)
	}
	if got := strings.Count(s.GetListenedAddress(), ","); got != 1 {
		t.Errorf("GetListenedAddress = %q, want two addresses", s.GetListenedAddress())
	}
	for _, ln := range lns {
		if code, body, err := get("http://" + ln.Addr().String() + "/"); err != nil || code != 200 || body != "ok" {
			t.Errorf("GET on %s = %d %q %v", ln.Addr(), code, body, err)
		}
	}
}

func TestStatusTransitions(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, nil))
	if got := s.Status(); got != ServerStatusStopped {
		t.Fatalf("new server: %v", got)
	}
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	if got := s.Status(); got != ServerStatusStopped {
		t.Fatalf("after CreateListener: %v, want stopped until Serve", got)
	}
	errc := serve(t, s)
	if got := s.Status(); got != ServerStatusRunning {
		t.Fatalf("serving: %v", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Status(); got != ServerStatusStopped {
		t.Fatalf("after Shutdown: %v", got)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if ServerStatusRunning.String() != "running" || ServerStatusStopped.String() != "stopped" {
		t.Error("ServerStatus.String")
	}
}

func TestOversizedHeaderGets431(t *testing.T) {
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	cfg.MaxHeaderBytes = 1024
	s := New("127.0.0.1:0", 0, cfg)
	serve(t, s)

	send := func(size int) int {
		t.Helper()
		c := dialHTTP(t, s.GetListenedAddress())
		fmt.Fprintf(c.conn, "GET / HTTP/1.1\r\nHost: test\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", size))
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		return resp.StatusCode
	}
	if got := send(512); got != http.StatusOK {
		t.Errorf("512-byte header: %d, want 200", got)
	}
	// net/http allows 4096 bytes of slack above MaxHeaderBytes.
	if got := send(1024 + 4096 + 100); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header over the limit: %d, want 431", got)
	}
}

func TestSlowHeadersAreCutByReadHeaderTimeout(t *testing.T) {
	cfg := testConfig(t, http.NotFoundHandler())
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	s := New("127.0.0.1:0", 0, cfg)
	serve(t, s)
	c := dialHTTP(t, s.GetListenedAddress())
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: test\r\n"); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("slow client: %v, want the server to close the connection", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("server waited %s for headers", took)
	}
}

func TestBindFailureIsReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(ln.Addr().String(), 0, testConfig(t, nil))
	err = s.Serve(context.Background())
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Serve on a used port = %v, want an address-in-use error naming the address", err)
	}
	if s.Status() != ServerStatusStopped {
		t.Error("server marked running after a failed start")
	}
}

func TestBadAddresses(t *testing.T) {
	for _, addr := range []string{"", "localhost", "127.0.0.1:99999", "127.0.0.1:http", "unix:"} {
		s := New(addr, 0, testConfig(t, nil))
		err := s.CreateListener()
		if err == nil {
			_ = s.Close(context.Background())
			t.Errorf("address %q accepted", addr)
			continue
		}
		if !strings.Contains(err.Error(), "address") {
			t.Errorf("address %q: error %q does not say what is wrong with the address", addr, err)
		}
	}
}

// A server drained for a handover before it began to serve (a drain
// that follows the ready message at once) leaves its unix socket file to
// the successor and can serve again after a rollback; one stopped for good
// removes the file.
func TestHandoverBeforeServeKeepsTheSocketFile(t *testing.T) {
	for _, handover := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "app.sock")
		s := New(UnixAddressPrefix+path, 0, testConfig(t, nil))
		if err := s.CreateListener(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if handover {
			ctx = withHandingOver(ctx)
		}
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := os.Lstat(path)
		if handover && err != nil {
			t.Errorf("after a handover before Serve the socket file is gone: %v", err)
		}
		if !handover && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after a final stop before Serve the socket file is left: %v", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		err = s.resume(ln)
		if handover && err != nil {
			t.Errorf("resume after a handover before Serve: %v", err)
		}
		if !handover && err == nil {
			t.Error("a server stopped for good resumed")
		}
		ln.Close()
	}
}

func TestUnixSocketServesAndIsRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	s := New(UnixAddressPrefix+path, 0, testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "over unix")
	})))
	errc := serve(t, s)
	if got := s.GetListenedAddress(); got != UnixAddressPrefix+path {
		t.Errorf("GetListenedAddress = %q", got)
	}
	if got := s.GetListenedPort(); got != -1 {
		t.Errorf("GetListenedPort of a unix socket = %d, want -1", got)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://unix/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "over unix" {
		t.Fatalf("body %q", body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after shutdown: %v", err)
	}
}

func TestStaleUnixSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // leaves the socket file behind, as a crashed process would

	s := New(UnixAddressPrefix+path, 0, testConfig(t, nil))
	if err := s.CreateListener(); err != nil {
		t.Fatalf("binding over a stale socket: %v", err)
	}
	defer s.Close(context.Background())

	// A live socket must not be stolen, and a regular file not removed.
	other := New(UnixAddressPrefix+path, 0, testConfig(t, nil))
	if err := other.CreateListener(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("binding a live socket: %v, want an in-use error", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := New(UnixAddressPrefix+file, 0, testConfig(t, nil))
	if err := f.CreateListener(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("binding over a regular file: %v, want a not-a-socket error", err)
	}
}

func TestDrainingIsNilOutsideServer(t *testing.T) {
	if Draining(context.Background()) != nil {
		t.Fatal("Draining of a plain context is not nil")
	}
}

func TestServeTwiceIsAnError(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, nil))
	serve(t, s)
	if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("second Serve = %v", err)
	}
	if err := s.CreateListener(); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("CreateListener while serving = %v", err)
	}
}
