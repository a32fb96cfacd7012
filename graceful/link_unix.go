//go:build unix

package graceful

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// link is one end of the socket pair between a process and its child.
type link struct {
	conn *net.UnixConn
	wmu  sync.Mutex
	once sync.Once
	// rbuf and roob are recv's buffers, kept from one message to the next
	// (a packet can be 64 KiB): one goroutine at a time reads a link.
	rbuf, roob []byte
}

// newLinkPair makes a socket pair: the parent's end, and the descriptor
// of the child's end, to pass to it (close-on-exec until exec passes it).
func newLinkPair() (*link, int, error) {
	fds, err := socketpairCloexec(unix.AF_UNIX, unix.SOCK_SEQPACKET)
	if err != nil {
		return nil, -1, fmt.Errorf("link socket pair: %w", err)
	}
	l, err := openLink(fds[0])
	if err != nil {
		closeFd(fds[1])
		return nil, -1, err
	}
	return l, fds[1], nil
}

// openLink makes a link of descriptor fd, which it takes over.
func openLink(fd int) (*link, error) {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && typ != unix.SOCK_SEQPACKET {
		closeFd(fd)
		return nil, fmt.Errorf("link fd %d is not a SOCK_SEQPACKET socket (type %d)", fd, typ)
	}
	f := os.NewFile(uintptr(fd), "link")
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("link fd %d is not a unix socket", fd)
	}
	return &link{conn: uc}, nil
}

// recvWithin is recv, failing with an error that wraps
// os.ErrDeadlineExceeded when no message has come within d.
func (l *link) recvWithin(d time.Duration) (linkMsg, []int, error) {
	_ = l.conn.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = l.conn.SetReadDeadline(time.Time{}) }()
	return l.recv()
}

// send sends one message, with fds passed along (they stay open here):
// in one packet, or in parts when it does not fit in one (see
// maxLinkPacket).
func (l *link) send(m linkMsg, fds ...int) error {
	b, err := encodeLinkMsg(m)
	if err != nil {
		return err
	}
	return l.sendEncoded(m.Type, b, fds)
}

// sendEncoded sends a message of type typ that encodeLinkMsg encoded as b.
func (l *link) sendEncoded(typ string, b []byte, fds []int) error {
	if len(fds) > maxLinkMsgFds {
		return fmt.Errorf("link message %q with %d descriptors: at most %d may be passed", typ, len(fds), maxLinkMsgFds)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if len(b) <= maxLinkPacket && len(fds) <= maxLinkFds {
		return l.write(typ, b, fds)
	}
	for len(b) > 0 || len(fds) > 0 {
		n, k := min(len(b), maxLinkPacket-1), min(len(fds), maxLinkFds)
		part := []byte{partMore}
		if n == len(b) && k == len(fds) {
			part[0] = partLast
		}
		if err := l.write(typ, append(part, b[:n]...), fds[:k]); err != nil {
			return err
		}
		b, fds = b[n:], fds[k:]
	}
	return nil
}

// write sends one packet of a message of type typ.
func (l *link) write(typ string, b []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := l.conn.WriteMsgUnix(b, oob, nil); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, net.ErrClosed) {
			return errLinkClosed
		}
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}

// recv waits for the next message and the descriptors passed with it,
// which the caller owns (close-on-exec), putting together one sent in
// parts. It returns errLinkClosed once the other process has closed its
// end or died. One goroutine at a time reads a link.
func (l *link) recv() (linkMsg, []int, error) {
	if l.rbuf == nil {
		l.rbuf = make([]byte, maxLinkPacket+1)
		l.roob = make([]byte, unix.CmsgSpace(4*maxLinkFds))
	}
	buf, oob := l.rbuf, l.roob
	var msg []byte
	var fds []int
	parts := 0
	fail := func(err error) (linkMsg, []int, error) {
		for _, fd := range fds {
			closeFd(fd)
		}
		return linkMsg{}, nil, err
	}
	for {
		n, oobn, flags, _, err := l.conn.ReadMsgUnix(buf, oob)
		fds = append(fds, parseRights(oob[:oobn])...)
		switch {
		case err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.ECONNRESET)):
			return fail(errLinkClosed)
		case err != nil:
			return fail(fmt.Errorf("link: %w", err))
		case n == 0:
			return fail(errLinkClosed) // a SEQPACKET peer closed its end
		case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n > maxLinkPacket:
			return fail(errors.New("link packet too large"))
		}
		if buf[0] != partMore && buf[0] != partLast {
			if parts > 0 {
				return fail(errors.New("link: a message began before the one sent in parts ended"))
			}
			msg = buf[:n]
			break
		}
		msg = append(msg, buf[1:n]...)
		if parts++; len(msg) > maxLinkMsg || len(fds) > maxLinkMsgFds || parts > maxLinkParts {
			return fail(fmt.Errorf("link message in parts larger than %d bytes or %d descriptors", maxLinkMsg, maxLinkMsgFds))
		}
		if buf[0] == partLast {
			break
		}
	}
	m, err := decodeLinkMsg(msg, len(fds))
	if err != nil {
		return fail(err)
	}
	return m, fds, nil
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range got {
			unix.CloseOnExec(fd)
		}
		fds = append(fds, got...)
	}
	return fds
}

// close closes this end; the other process sees the link close.
func (l *link) close() {
	l.once.Do(func() { _ = l.conn.Close() })
}

// fd returns a new (close-on-exec) descriptor of this end of the link.
func (l *link) fd() (int, error) { return dupSocket(l.conn) }
