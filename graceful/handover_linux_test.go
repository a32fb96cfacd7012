package graceful

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritHandoverInspectsManySockets hands a new generation more
// sockets than inheritHandover inspects on one goroutine (see
// concurrently): each must come back with its own address, in the
// handover's order; with one descriptor that is not a socket among them,
// the error names that one, and no descriptor of the others stays open.
func TestInheritHandoverInspectsManySockets(t *testing.T) {
	const n = 130
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns = append(lns, ln)
	}
	notSocket, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer notSocket.Close()
	const bad = 100

	for _, withBad := range []bool{false, true} {
		t.Run(fmt.Sprintf("bad=%v", withBad), func(t *testing.T) {
			// Descriptors without close-on-exec, as exec passes them: no
			// fork may copy them until inheritHandover has marked them.
			syscall.ForkLock.RLock()
			locked := true
			unlock := func() {
				if locked {
					syscall.ForkLock.RUnlock()
					locked = false
				}
			}
			defer unlock()
			var h handover
			var mine []int // closed by the test, not by inheritHandover
			dup := func(fd int, own bool) int {
				d, err := unix.Dup(fd)
				if err != nil {
					t.Fatal(err)
				}
				if own {
					mine = append(mine, d)
				}
				return d
			}
			defer func() {
				for _, fd := range mine {
					closeFd(fd)
				}
			}()
			parentEnd, childLink, err := newLinkPair()
			if err != nil {
				t.Fatal(err)
			}
			defer parentEnd.close()
			h.LinkFd = dup(childLink, false)
			closeFd(childLink)
			h.StderrFd = dup(2, true)
			var p [2]int
			if err := unix.Pipe(p[:]); err != nil {
				t.Fatal(err)
			}
			h.PipeFd = p[0]
			mine = append(mine, p[0], p[1])
			for i, ln := range lns {
				var fd int
				if withBad && i == bad {
					fd = dup(int(notSocket.Fd()), true)
				} else {
					rc, err := ln.(syscall.Conn).SyscallConn()
					if err != nil {
						t.Fatal(err)
					}
					if err := rc.Control(func(s uintptr) { fd = dup(int(s), false) }); err != nil {
						t.Fatal(err)
					}
				}
				h.Sockets = append(h.Sockets, handoverSocket{Name: fmt.Sprintf("s%d", i), Fd: fd})
			}
			h.Role = roleNameProcess
			l, socks, err := inheritHandover(h, slog.New(slog.DiscardHandler))
			unlock()
			if withBad {
				if err == nil {
					l.close()
					t.Fatal("inheritHandover took a descriptor that is not a socket")
				}
				if want := fmt.Sprintf(`socket "s%d" handed over by the parent: fd %d is not a socket`, bad, h.Sockets[bad].Fd); !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
				closeFd(h.LinkFd)
				for i, ln := range lns {
					if i == bad {
						continue
					}
					if got := descriptorsOf(socketInode(ln)); got != 1 {
						t.Errorf("socket s%d: %d descriptors after the failure, want 1 (the test's own)", i, got)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			if len(socks) != n {
				t.Fatalf("%d sockets, want %d", len(socks), n)
			}
			for i, s := range socks {
				defer s.close()
				if s.name != fmt.Sprintf("s%d", i) || s.addr.String() != lns[i].Addr().String() || s.packet {
					t.Errorf("socket %d: %s at %s (packet %v), want s%d at %s", i, s.name, s.addr, s.packet, i, lns[i].Addr())
				}
				if flags, err := unix.FcntlInt(uintptr(s.fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
					t.Errorf("socket %d: fd %d is not close-on-exec (flags %d, %v)", i, s.fd, flags, err)
				}
			}
		})
	}
}
