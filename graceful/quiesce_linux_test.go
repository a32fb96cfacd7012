package graceful

import (
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// handshakes counts, in one dump, the connections in their handshake to
// each of several listening sockets, and only those. The listeners here
// drop the final ACK of every handshake (a socket filter), so that the
// connections stay in SYN_RECV while their clients see them open.
func TestHandshakesCountsEveryListener(t *testing.T) {
	var locals []tcpAddr
	for i := range 3 {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		fdOf(ln, func(fd int) {
			// ldb [13] (the TCP flags); and #0x3f; jeq #ACK: drop; keep.
			prog := []unix.SockFilter{{Code: 0x30, K: 13}, {Code: 0x54, K: 0x3f}, {Code: 0x15, Jt: 0, Jf: 1, K: 0x10}, {Code: 0x06, K: 0}, {Code: 0x06, K: 0xffffffff}}
			if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
				t.Fatal(err)
			}
			queued, local, ok, err := acceptQueue(fd)
			if err != nil || !ok || queued != 0 {
				t.Fatalf("acceptQueue: %d %v %v", queued, ok, err)
			}
			locals = append(locals, local)
		})
		// Listener i gets i+1 connections: connect returns once the
		// SYN-ACK came back, when the kernel already counts the handshake.
		for range i + 1 {
			c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
	}
	for _, tc := range []struct {
		locals []tcpAddr
		want   int
	}{{locals, 6}, {locals[:1], 1}, {locals[2:], 3}, {nil, 0}} {
		if n, err := handshakes(tc.locals); err != nil || n != tc.want {
			t.Errorf("handshakes to %d listeners: %d (%v), want %d", len(tc.locals), n, err, tc.want)
		}
	}
}

// refusingNew reports whether every TCP listener of s's current round
// refuses new connections: the drain has attached its SYN filter, or
// closed it. Stats().Draining turns true just before the filter.
func refusingNew(s *Server) bool {
	s.mu.Lock()
	raw := s.rd.raw
	s.mu.Unlock()
	all := len(raw) > 0
	for _, ln := range raw {
		// A listener that is closed already (fdOf fails) refuses too.
		fdOf(ln, func(fd int) {
			// With no room for it (optlen 0), SO_GET_FILTER returns the
			// length of the socket's filter: 0 when it has none.
			var n uint32
			_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_GET_FILTER, 0, uintptr(unsafe.Pointer(&n)), 0)
			if errno != 0 || n == 0 {
				all = false
			}
		})
	}
	return all
}
