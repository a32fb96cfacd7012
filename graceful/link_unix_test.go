//go:build unix

package graceful

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// linkPair returns both ends of a link, closed when the test ends.
func linkPair(t *testing.T) (*link, *link) {
	t.Helper()
	a, fd, err := newLinkPair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := openLink(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(); b.close() })
	return a, b
}

// A ready message larger than one packet, with more descriptors than one
// sendmsg may pass (a worker with 600 servers; names long enough for
// 300 KB of JSON), arrives whole, in order, with every descriptor open
// and naming its socket; the one after it arrives as it was sent.
func TestLinkSendsLargeMessagesInParts(t *testing.T) {
	parent, worker := linkPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lfd, err := dupSocket(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFd(lfd)
	const n = 600
	msg := linkMsg{Type: msgReady, PID: 42}
	fds := make([]int, n)
	for i := range n {
		msg.Sockets = append(msg.Sockets, handoverSocket{Name: fmt.Sprintf("%0480d", i), Fd: i})
		fds[i] = lfd
	}
	sent := make(chan error, 1)
	go func() { sent <- worker.send(msg, fds...) }()
	got, gotFds, err := parent.recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got.Type != msgReady || got.PID != 42 || len(got.Sockets) != n || len(gotFds) != n {
		t.Fatalf("got %q pid %d with %d sockets and %d descriptors, want ready, 42, %d and %d", got.Type, got.PID, len(got.Sockets), len(gotFds), n, n)
	}
	for i, fd := range gotFds {
		if got.Sockets[i].Name != msg.Sockets[i].Name {
			t.Fatalf("socket %d is named %.10s…, want %.10s…", i, got.Sockets[i].Name, msg.Sockets[i].Name)
		}
		addr, _, err := inspectSocket(fd)
		if err != nil || addr.String() != ln.Addr().String() {
			t.Fatalf("descriptor %d: %v %v, want the listener on %s", i, addr, err, ln.Addr())
		}
		closeFd(fd)
	}
	go func() { sent <- worker.send(linkMsg{Type: msgPong}) }()
	if m, _, err := parent.recv(); err != nil || m.Type != msgPong {
		t.Fatalf("the message after: %q %v, want pong", m.Type, err)
	}
}

// A peer that breaks the parts protocol gets an error (the descriptors
// that came with the parts are closed by recv).
func TestLinkRefusesBrokenParts(t *testing.T) {
	long := make([][]byte, maxLinkMsg/(maxLinkPacket-1)+2)
	for i := range long {
		long[i] = make([]byte, maxLinkPacket)
		long[i][0] = partMore
	}
	for _, tc := range []struct {
		name    string
		packets [][]byte
		want    string
	}{
		{"a whole message inside a run of parts", [][]byte{[]byte(`P{"type":`), []byte(`{"type":"pong"}`)}, "began before"},
		{"parts larger than a message may be", long, "larger than"},
		{"parts that do not make a message", [][]byte{[]byte(`P{"type":`), []byte(`L"nope"}`)}, "unknown link message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, worker := linkPair(t)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for _, p := range tc.packets {
					fd, err := dupSocket(worker.conn)
					if err != nil {
						return
					}
					err = worker.write("test", p, []int{fd})
					closeFd(fd)
					if err != nil {
						return
					}
				}
			}()
			_, fds, err := parent.recv()
			worker.close()
			<-done
			if err == nil || !strings.Contains(err.Error(), tc.want) || fds != nil {
				t.Fatalf("recv: %v with %d descriptors, want an error saying %q", err, len(fds), tc.want)
			}
		})
	}
}
