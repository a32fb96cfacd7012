//go:build unix

package http3

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// pairBuffer is the send and receive buffer of a socket pair between
// generations: room for about a thousand full-size QUIC packets.
const pairBuffer = 4 << 20

// newPair returns a unix datagram socket pair: this generation's end and
// the end passed on to later generations.
func newPair() (own, passed *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socket pair: %w", err)
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, pairBuffer)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, pairBuffer)
	}
	return os.NewFile(uintptr(fds[0]), "http3-routing"), os.NewFile(uintptr(fds[1]), "http3-routing"), nil
}

// unixLink is a link over a unix datagram socket.
type unixLink struct{ c *net.UnixConn }

// newLink returns a link on a duplicate of f's descriptor.
func newLink(f *os.File) (link, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("socket pair: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("socket pair: %s is not a unix socket", f.Name())
	}
	return unixLink{uc}, nil
}

func (l unixLink) send(b []byte) error        { return sendDontWait(l.c, b) }
func (l unixLink) read(b []byte) (int, error) { return l.c.Read(b) }
func (l unixLink) close() error               { return l.c.Close() }

// sendDontWait sends one datagram on c, or fails at once with errQueueFull
// when the receiver's queue is full.
func sendDontWait(c *net.UnixConn, b []byte) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT, nil)
		return true
	}); err != nil {
		return err
	}
	if errors.Is(serr, syscall.EAGAIN) || errors.Is(serr, syscall.ENOBUFS) {
		return errQueueFull
	}
	return serr
}
