//go:build unix

package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestUnitPreparedListenersServeAndCloseWithTheirSockets: the listeners
// made ahead for inherited sockets (prepareListeners) serve the program
// that takes them, a socket lends more listeners after the first, and
// closing a socket, taken or not, prepared yet or not, leaves nothing of
// it open: its address then refuses connections.
func TestUnitPreparedListenersServeAndCloseWithTheirSockets(t *testing.T) {
	var socks []*socket
	for range 3 {
		ep, err := parseAddress("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s, err := bindSocket(ep, socketPerm{})
		if err != nil {
			t.Fatal(err)
		}
		s.name = s.addr.String()
		socks = append(socks, s)
	}
	prepareListeners(socks)
	taken, untaken, early := socks[0], socks[1], socks[2]
	early.close() // perhaps before its listener is made, perhaps after

	accepts := func(ln net.Listener) {
		t.Helper()
		c, err := net.Dial("tcp", taken.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept on %s: %v", taken.name, err)
		}
		_ = got.Close()
	}
	for range 2 { // the prepared listener, then one made on demand
		ln, err := taken.listener()
		if err != nil {
			t.Fatal(err)
		}
		accepts(ln)
		_ = ln.Close()
	}
	taken.close()
	untaken.close()
	for _, s := range socks {
		if c, err := net.DialTimeout("tcp", s.addr.String(), 5*time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s accepts a connection after its socket was closed: a descriptor of it is still open", s.name)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s after close: %v, want connection refused", s.name, err)
		}
	}
}

// TestUnitAHandoverStopsAcceptingBeforeBeginStopReturns: when a server
// stops for a successor, its listeners are closed by the time beginStop
// returns, not later on the drain's goroutine: a process stops its
// servers one after another, and with thousands of them the last would
// otherwise go on taking the successor's connections until every drain
// had started.
func TestUnitAHandoverStopsAcceptingBeforeBeginStopReturns(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, http.NotFoundHandler()))
	errc := serve(t, s)
	r, d := s.beginStop(false, false)
	for _, ln := range r.raw {
		rc, err := ln.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Control(func(uintptr) {}); err == nil {
			t.Errorf("listener on %s is still open when beginStop has returned", ln.Addr())
		}
	}
	if err := s.awaitStop(context.Background(), r, d); err != nil {
		t.Fatalf("awaitStop: %v", err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
