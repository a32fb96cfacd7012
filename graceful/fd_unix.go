//go:build unix

package graceful

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Fd returns a file descriptor of the server's listening socket (the first
// one when it has several) that a child process can inherit, or 0 when
// the server has no listener, has stopped, or its listener does not expose
// a descriptor.
//
// The descriptor is a duplicate owned by the Server: every call returns the
// same one, it stays open until the server has stopped, and the caller
// must not close it. It has close-on-exec set, so only a child that is
// given it explicitly (os/exec's Cmd.ExtraFiles, or syscall.ProcAttr.Files)
// receives it. Taking it does not switch the live listener to blocking
// mode, unlike calling Fd on the *os.File that net.TCPListener.File
// returns. In the child, pass the number it received to [New].
func (s *Server) Fd() uintptr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fdFile != nil {
		return s.fdFile.Fd()
	}
	if len(s.raw) == 0 || s.stopping {
		return 0
	}
	f, err := dupListener(s.raw[0])
	if err != nil {
		s.logger.Warn("cannot duplicate the listening socket", "address", s.describe(), "error", err)
		return 0
	}
	s.fdFile = f
	return f.Fd()
}

// dupListener duplicates the socket of ln into a new close-on-exec
// descriptor wrapped in an *os.File. The socket is non-blocking when
// duplicated, so the *os.File's Fd method leaves it non-blocking.
func dupListener(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("listener %T does not expose a file descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", formatAddr(ln.Addr()), err)
	}
	var dup int
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("listener %s: %w", formatAddr(ln.Addr()), err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("duplicate listener %s: %w", formatAddr(ln.Addr()), dupErr)
	}
	return os.NewFile(uintptr(dup), formatAddr(ln.Addr())), nil
}

// adoptListener turns an inherited descriptor into a listener after
// checking that it is an open, listening stream socket and, when address
// names a particular port or path, that it is bound there. On success the
// descriptor itself is closed: the listener holds a close-on-exec
// duplicate, so the inherited number does not leak into the process's own
// children.
func adoptListener(fd int, address string) (net.Listener, error) {
	if err := checkListeningSocket(fd); err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("inherited fd %d", fd))
	ln, err := net.FileListener(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("fd %d: %w", fd, err)
	}
	if address == "" {
		return ln, nil
	}
	ep, err := parseAddress(address)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if wantsParticularSocket(ep) && !ep.matches(ln.Addr()) {
		_ = ln.Close()
		return nil, fmt.Errorf("fd %d listens on %s, not on %s", fd, formatAddr(ln.Addr()), ep)
	}
	return ln, nil
}

// checkListeningSocket explains what is wrong with a descriptor that is
// supposed to be a listening stream socket.
func checkListeningSocket(fd int) error {
	if fd <= 2 {
		return fmt.Errorf("fd %d is a standard stream (stdin, stdout or stderr), not an inherited listener", fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fd %d is not open: %w", fd, err)
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("fd %d is not a socket", fd)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("fd %d: read socket type: %w", fd, err)
	}
	if typ != unix.SOCK_STREAM {
		return fmt.Errorf("fd %d is not a stream socket (type %d)", fd, typ)
	}
	listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("fd %d: read listening state: %w", fd, err)
	}
	if listening == 0 {
		return fmt.Errorf("fd %d is a socket that is not listening", fd)
	}
	return nil
}
