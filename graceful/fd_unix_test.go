//go:build unix

package graceful

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func isNonblocking(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("F_GETFL on fd %d: %v", fd, err)
	}
	return flags&unix.O_NONBLOCK != 0
}

func isCloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("F_GETFD on fd %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// sameFile reports whether descriptor number fd still refers to the file
// described by was. The number itself may have been reused by then.
func sameFile(t *testing.T, fd int, was unix.Stat_t) bool {
	t.Helper()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return false
	}
	return now.Dev == was.Dev && now.Ino == was.Ino
}

func TestFdRoundTrip(t *testing.T) {
	answer := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) })
	}
	first := New("127.0.0.1:0", 0, testConfig(t, answer("first")))
	firstErr := serve(t, first)
	addr := first.GetListenedAddress()

	fd := int(first.Fd())
	if fd <= 2 {
		t.Fatalf("Fd = %d", fd)
	}
	if again := int(first.Fd()); again != fd {
		t.Errorf("second Fd = %d, want the same descriptor %d", again, fd)
	}
	if !isNonblocking(t, fd) {
		t.Fatal("Fd switched the live listener to blocking mode")
	}
	if !isCloexec(t, fd) {
		t.Error("Fd's descriptor is inherited by every child: close-on-exec is not set")
	}
	var fdIdentity unix.Stat_t
	if err := unix.Fstat(fd, &fdIdentity); err != nil {
		t.Fatal(err)
	}

	// A descriptor handed to New is owned by the new server, so give it
	// its own copy, as a child process would have.
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	second := New(addr, dup, testConfig(t, answer("second")))
	secondErr := serve(t, second)
	if got := second.GetListenedAddress(); got != addr {
		t.Fatalf("adopted listener on %q, want %q", got, addr)
	}
	if sameFile(t, dup, fdIdentity) {
		t.Error("the adopted descriptor number is still open: it would leak into child processes")
	}

	// Both serve the same socket; once the first drains, the second
	// answers everything.
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, firstErr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		code, body, err := get("http://" + addr + "/")
		if err != nil || code != 200 || body != "second" {
			t.Fatalf("after the first server stopped: %d %q %v", code, body, err)
		}
	}
	if sameFile(t, fd, fdIdentity) {
		t.Error("Fd's descriptor is still open after the server stopped")
	}
	if err := second.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, secondErr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptRejectsWrongDescriptors(t *testing.T) {
	dir := t.TempDir()
	file, err := os.Create(filepath.Join(dir, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpFile, err := udp.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connFile, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer connFile.Close()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()

	closedFd := func() int {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		fd := int(f.Fd())
		f.Close()
		return fd
	}()

	cases := []struct {
		name    string
		fd      int
		address string
		want    string
	}{
		{"stderr", 2, "", "standard stream"},
		{"closed", closedFd, "", "not open"},
		{"regular file", int(file.Fd()), "", "not a socket"},
		{"udp socket", int(udpFile.Fd()), "", "not a stream socket"},
		{"connected socket", int(connFile.Fd()), "", "not listening"},
		{"other address", int(lnFile.Fd()), "127.0.0.1:1", "listens on " + ln.Addr().String() + ", not on 127.0.0.1:1"},
	}
	for _, tc := range cases {
		s := New(tc.address, tc.fd, testConfig(t, nil))
		err := s.CreateListener()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fd "+strconv.Itoa(tc.fd)) {
			t.Errorf("%s: %v, want an error naming fd %d and containing %q", tc.name, err, tc.fd, tc.want)
		}
	}
	// The rejected descriptors that were open are left alone.
	for _, f := range []*os.File{file, udpFile, connFile} {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil {
			t.Errorf("%s was closed by a failed adoption", f.Name())
		}
	}
}

// listeningFile binds address and returns the socket as a file, as a
// parent or systemd would pass it, and the address it is bound to. The
// file is closed when the test ends.
func listeningFile(t *testing.T, address string) (*os.File, *net.TCPAddr) {
	t.Helper()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().(*net.TCPAddr)
}

func TestAdoptMatchesWildcardAndFreePort(t *testing.T) {
	f, bound := listeningFile(t, ":0")
	port := bound.Port
	// File's descriptor is owned by f; hand New a duplicate.
	dup, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := New(":"+strconv.Itoa(port), dup, testConfig(t, nil))
	if err := s.CreateListener(); err != nil {
		t.Fatalf("wildcard address against a wildcard socket: %v", err)
	}
	defer s.Close(context.Background())
	if s.GetListenedPort() != port {
		t.Errorf("port %d, want %d", s.GetListenedPort(), port)
	}
}
