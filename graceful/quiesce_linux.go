package graceful

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A final shutdown must not close a listening socket that still has
// connections in its accept queue: Linux resets every one of them, and a
// client that had already sent its request sees "connection reset by
// peer". So the socket first stops taking new connections, the server
// accepts and answers everything already queued, and only then closes.
//
//   - TCP: a socket filter that drops every segment with SYN set and ACK
//     clear. A client that connects from then on gets no answer to its
//     SYN and retries; by then the socket is closed and it is refused: a
//     connection that never opened, which is safe to retry. Handshakes
//     already under way complete (their final ACK passes the filter) and
//     are served. Accepted connections inherit the filter, which never
//     matches their segments.
//   - Unix stream sockets: shutdown(SHUT_RD), after which connect(2)
//     fails with ECONNREFUSED while the queue can still be accepted.
//
// On other systems a final shutdown closes the listeners as before.
const quiesceSupported = true

// refuseNew makes the listening socket fd refuse new connections while
// the ones it has queued can still be accepted.
func refuseNew(fd int) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("socket domain: %w", err)
	}
	if domain == unix.AF_UNIX {
		if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil {
			return fmt.Errorf("shutdown(SHUT_RD): %w", err)
		}
		return nil
	}
	// skb->data is at the TCP header when a socket filter runs on TCP.
	prog := []unix.SockFilter{
		{Code: 0x30, K: 13},                // ldb [13]: the TCP flags
		{Code: 0x54, K: 0x12},              // and #(SYN|ACK)
		{Code: 0x15, Jt: 0, Jf: 1, K: 0x2}, // jeq #SYN, drop, keep
		{Code: 0x06, K: 0},                 // drop: ret #0
		{Code: 0x06, K: 0xffffffff},        // keep: ret #-1
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach the SYN filter: %w", err)
	}
	return nil
}

// listenAgain undoes refuseNew on the listening socket fd and reports
// whether the socket accepts connections again. It serves a process that
// takes back a socket it quiesced (a rollback), and one that inherits a
// socket from a process that died in the middle of its final shutdown,
// leaving the filter on a socket that systemd or a supervisor kept. A
// unix socket cannot: shutdown is for good, and it must be bound again.
func listenAgain(fd int) bool {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || domain == unix.AF_UNIX {
		return false
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
	return err == nil || errors.Is(err, unix.ENOENT) // ENOENT: no filter
}

// acceptQueue returns how many connections wait in the accept queue of
// the listening socket fd, and for a TCP socket its local address, to
// count the handshakes under way to it (see handshakes).
func acceptQueue(fd int) (queued int, local tcpAddr, ok bool, err error) {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, local, false, fmt.Errorf("socket domain: %w", err)
	}
	if domain == unix.AF_UNIX {
		q, err := unixQueue(fd)
		return q, local, false, err
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, local, false, fmt.Errorf("TCP_INFO: %w", err)
	}
	// For a listening socket, tcpi_unacked is its accept queue's length.
	queued = int(info.Unacked)
	sa, err := syscall.Getsockname(fd) // one system call; unix's makes two
	if err != nil {
		return queued, local, false, fmt.Errorf("getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return queued, tcpAddr{unix.AF_INET, a.Port, a.Addr[:]}, true, nil
	case *syscall.SockaddrInet6:
		return queued, tcpAddr{unix.AF_INET6, a.Port, a.Addr[:]}, true, nil
	}
	return queued, local, false, nil
}

// tcpAddr is the local address of a listening TCP socket.
type tcpAddr struct {
	family uint8
	port   int
	addr   []byte
}

// handshakes counts the connections in their handshake (SYN_RECV) to
// any of the addresses, through the kernel's inet_diag: one dump of the
// SYN_RECV sockets for each address family, however many listening
// sockets there are (a dump walks the whole connection table).
func handshakes(locals []tcpAddr) (int, error) {
	count := 0
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if !slices.ContainsFunc(locals, func(a tcpAddr) bool { return a.family == family }) {
			continue
		}
		// struct inet_diag_req_v2: family, protocol, ext, pad, states,
		// then struct inet_diag_sockid (ports, addresses, interface,
		// cookie).
		req := make([]byte, 4+4+48)
		req[0], req[1] = family, unix.IPPROTO_TCP
		binary.NativeEndian.PutUint32(req[4:], 1<<tcpSynRecv)
		err := sockDiag(req, true, func(p []byte) {
			// struct inet_diag_msg: family, state, timer, retrans, then
			// the socket ID: sport (big endian) at 4, src address at 8.
			if len(p) < 8+16 {
				return
			}
			port := int(binary.BigEndian.Uint16(p[4:]))
			for _, a := range locals {
				if a.family == family && a.port == port && (isUnspecified(a.addr) || string(p[8:8+len(a.addr)]) == string(a.addr)) {
					count++
					return
				}
			}
		})
		if err != nil {
			return count, err
		}
	}
	return count, nil
}

// socketInQueue returns the bytes waiting in a connected socket's receive
// queue.
func socketInQueue(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

// sockDiag sends one sock_diag request and calls each for every message
// of the answer, until it is done.
func sockDiag(req []byte, dump bool, each func(payload []byte)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	flags := uint16(unix.NLM_F_REQUEST)
	if dump {
		flags |= unix.NLM_F_DUMP
	}
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(req))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(req)))
	binary.NativeEndian.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(msg[6:], flags)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	msg = append(msg, req...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return fmt.Errorf("sock_diag: %w", syscall.Errno(-e))
					}
				}
				return nil
			}
			each(m.Data)
		}
		if !dump {
			return nil
		}
	}
}

func isUnspecified(addr []byte) bool {
	for _, b := range addr {
		if b != 0 {
			return false
		}
	}
	return true
}

// unixQueue returns the length of a listening unix socket's accept queue,
// through the kernel's unix_diag.
func unixQueue(fd int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("fstat: %w", err)
	}
	// struct unix_diag_req: family, protocol, pad, states, ino, show,
	// cookie[2].
	req := make([]byte, 24)
	req[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[4:], 1<<tcpListen)
	binary.NativeEndian.PutUint32(req[8:], uint32(st.Ino))
	binary.NativeEndian.PutUint32(req[12:], unixDiagShowRQLen)
	binary.NativeEndian.PutUint32(req[16:], ^uint32(0))
	binary.NativeEndian.PutUint32(req[20:], ^uint32(0))
	queued := -1
	err := sockDiag(req, false, func(p []byte) {
		// struct unix_diag_msg is 16 bytes, then attributes.
		if len(p) < 16 {
			return
		}
		attrs := p[16:]
		for len(attrs) >= 4 {
			l := int(binary.NativeEndian.Uint16(attrs))
			t := binary.NativeEndian.Uint16(attrs[2:])
			if l < 4 || l > len(attrs) {
				return
			}
			if t == unixDiagRQLen && l >= 12 {
				queued = int(binary.NativeEndian.Uint32(attrs[4:]))
			}
			attrs = attrs[(l+3)&^3:]
		}
	})
	if err == nil && queued < 0 {
		err = errors.New("unix_diag gave no queue length")
	}
	return max(queued, 0), err
}

// Constants of linux/tcp_states.h and linux/unix_diag.h.
const (
	tcpSynRecv        = 3
	tcpListen         = 10
	unixDiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen     = 4    // UNIX_DIAG_RQLEN
)

// fdOf returns the descriptor of a listener or connection, for the
// duration of fn.
func fdOf(v any, fn func(fd int)) bool {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) }) == nil
}

// roundTrip returns the smoothed round-trip time the kernel measured on
// a TCP connection, its variance, and how long ago the connection last
// sent data (to a millisecond or so).
func roundTrip(c any) (rtt, rttvar, sinceSent time.Duration, ok bool) {
	fdOf(c, func(fd int) {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && info.Rtt > 0 {
			rtt, rttvar, ok = time.Duration(info.Rtt)*time.Microsecond, time.Duration(info.Rttvar)*time.Microsecond, true
			sinceSent = time.Duration(info.Last_data_sent) * time.Millisecond
		}
	})
	return rtt, rttvar, sinceSent, ok
}
