//go:build unix

package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
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
// stops for a successor, it accepts nothing more by the time beginStop
// (stopAccepting) returns, not later on the drain's goroutine: a process
// stops its servers one after another, and with thousands of them the
// last would otherwise go on taking the successor's connections until
// every drain had started. A connection queued then stays queued, for the
// successor.
func TestUnitAHandoverStopsAcceptingBeforeBeginStopReturns(t *testing.T) {
	s := New("127.0.0.1:0", 0, testConfig(t, http.NotFoundHandler()))
	errc := serve(t, s)
	// The successor's descriptor of the socket.
	s.mu.Lock()
	successor, err := s.rd.raw[0].(*net.TCPListener).File()
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	defer successor.Close()
	r, d, drain := s.stopAccepting(false, false)
	if drain == nil {
		t.Fatal("stopAccepting of a serving server returned no drain")
	}
	c, err := net.DialTimeout("tcp", s.GetListenedAddress(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial after stopAccepting: %v (the socket must stay open for a successor)", err)
	}
	defer c.Close()
	for _, ln := range r.raw {
		if nc, err := ln.Accept(); err == nil {
			nc.Close()
			t.Fatalf("listener on %s accepted a connection after stopAccepting returned", ln.Addr())
		} else if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			// Turned away by its deadline, or closed already by net/http
			// as its Serve returned.
			t.Fatalf("Accept after stopAccepting: %v, want it turned away", err)
		}
	}
	go drain()
	if err := s.awaitStop(context.Background(), r, d); err != nil {
		t.Fatalf("awaitStop: %v", err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
