//go:build unix

package graceful

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

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
	raw := s.rd.raw
	if len(raw) == 0 || s.rd.stopping {
		return 0
	}
	fd, err := dupSocket(raw[0])
	if err != nil {
		s.logger.Warn("cannot duplicate the listening socket", "address", s.describe(), "error", err)
		return 0
	}
	// os.NewFile finds the duplicate non-blocking and leaves it so: its
	// Fd method switches to blocking mode only descriptors it made
	// non-blocking itself, and the live listener shares the mode.
	s.fdFile = os.NewFile(uintptr(fd), formatAddr(raw[0].Addr()))
	return s.fdFile.Fd()
}

// dupSocket duplicates the descriptor of a listener or packet connection
// into a new close-on-exec descriptor, without touching its blocking
// mode.
func dupSocket(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T does not expose a file descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var dup int
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("duplicate socket: %w", dupErr)
	}
	return dup, nil
}

// fileListener makes a listener on a duplicate of f's descriptor; f stays
// open.
func fileListener(f *os.File) (net.Listener, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return ln, nil
}

// filePacketConn makes a packet connection on a duplicate of f's
// descriptor; f stays open.
func filePacketConn(f *os.File) (net.PacketConn, error) { return net.FilePacketConn(f) }

func dupFile(fd int, name string) (*os.File, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate fd %d: %w", fd, err)
	}
	return os.NewFile(uintptr(dup), name), nil
}

func closeFd(fd int) { _ = unix.Close(fd) }

// socketOf makes the Process's own descriptor of a socket just bound and
// closes c: servers get their own duplicates from the Process.
func socketOf(c interface{ Close() error }, addr net.Addr, ep endpoint) (*socket, error) {
	if ul, ok := c.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	fd, err := dupSocket(c)
	_ = c.Close()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", ep, err)
	}
	return &socket{ep: ep, fd: fd, addr: addr, packet: ep.packet(), from: "bound"}, nil
}

// inspectSocket explains what an inherited descriptor is: a listening
// stream socket or a bound datagram socket, and where it is bound. Any
// other descriptor is an error.
func inspectSocket(fd int) (addr net.Addr, packet bool, err error) {
	if fd <= 2 {
		return nil, false, fmt.Errorf("fd %d is a standard stream (stdin, stdout or stderr), not an inherited socket", fd)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.EBADF):
		return nil, false, fmt.Errorf("fd %d is not open: %w", fd, err)
	case errors.Is(err, unix.ENOTSOCK):
		return nil, false, fmt.Errorf("fd %d is not a socket", fd)
	case err != nil:
		return nil, false, fmt.Errorf("fd %d: read socket type: %w", fd, err)
	}
	// syscall's, not unix's: x/sys/unix asks an IPv4 or IPv6 socket for
	// its protocol as well (an L2TP check), one more system call per
	// socket, which a new generation with hundreds of sockets waits for.
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, false, fmt.Errorf("fd %d: read socket address: %w", fd, err)
	}
	switch typ {
	case unix.SOCK_STREAM:
		listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			return nil, false, fmt.Errorf("fd %d: read listening state: %w", fd, err)
		}
		if listening == 0 {
			return nil, false, fmt.Errorf("fd %d is a stream socket that is not listening", fd)
		}
	case unix.SOCK_DGRAM:
		packet = true
		if _, err := unix.Getpeername(fd); err == nil {
			return nil, false, fmt.Errorf("fd %d is a connected datagram socket, not a bound one", fd)
		}
	default:
		return nil, false, fmt.Errorf("fd %d is neither a stream nor a datagram socket (type %d)", fd, typ)
	}
	addr = sockaddrAddr(sa, packet)
	if addr == nil {
		return nil, false, fmt.Errorf("fd %d is a socket of an unsupported family", fd)
	}
	if isUnbound(addr) {
		return nil, false, fmt.Errorf("fd %d is a socket that is not bound to an address", fd)
	}
	return addr, packet, nil
}

// sockaddrAddr turns a socket address into a net.Addr of the right kind.
func sockaddrAddr(sa syscall.Sockaddr, packet bool) net.Addr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		if packet {
			return &net.UDPAddr{IP: ip, Port: sa.Port}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port}
	case *syscall.SockaddrInet6:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		zone := ""
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		if packet {
			return &net.UDPAddr{IP: ip, Port: sa.Port, Zone: zone}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zone}
	case *syscall.SockaddrUnix:
		if packet {
			return &net.UnixAddr{Name: sa.Name, Net: "unixgram"}
		}
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

func isUnbound(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port == 0
	case *net.UDPAddr:
		return a.Port == 0
	case *net.UnixAddr:
		return a.Name == ""
	}
	return true
}

// inheritable checks that fd was passed by exec, not opened by this
// process: every descriptor the Go runtime and the program open has
// close-on-exec set, while exec clears it on the descriptors it passes.
func inheritable(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return fmt.Errorf("fd %d is not open: %w", fd, err)
	}
	if flags&unix.FD_CLOEXEC != 0 {
		return fmt.Errorf("fd %d was opened by this process (it is close-on-exec), not passed to it", fd)
	}
	return nil
}

// markCloseOnExec keeps an inherited descriptor from leaking into the
// program's own subprocesses.
func markCloseOnExec(fd int) { unix.CloseOnExec(fd) }

// adoptListener turns an inherited descriptor into a listener after
// checking that it is an open, listening stream socket and, when address
// names a particular port or path, that it is bound there. On success the
// descriptor itself is closed: the listener holds a close-on-exec
// duplicate, so the inherited number does not leak into the process's own
// children.
func adoptListener(fd int, address string) (net.Listener, error) {
	addr, packet, err := inspectSocket(fd)
	if err != nil {
		return nil, err
	}
	if packet {
		return nil, fmt.Errorf("fd %d is a datagram socket, not a stream socket that listens", fd)
	}
	if address != "" {
		ep, err := parseAddress(address)
		if err != nil {
			return nil, err
		}
		if ep.particular() && !ep.matches(addr) {
			return nil, fmt.Errorf("fd %d listens on %s, not on %s", fd, formatAddr(addr), ep)
		}
	}
	f, err := dupFile(fd, fmt.Sprintf("inherited fd %d", fd))
	if err != nil {
		return nil, err
	}
	ln, err := fileListener(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("fd %d: %w", fd, err)
	}
	closeFd(fd)
	return ln, nil
}

// dupFd duplicates fd into a new close-on-exec descriptor.
func dupFd(fd int) (int, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("duplicate fd %d: %w", fd, err)
	}
	return dup, nil
}

// waitEOF blocks until the pipe fd reaches end of file or fails; the
// bytes it reads are dropped (no one writes on a lifeline).
func waitEOF(fd int) {
	var b [16]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			return
		}
	}
}

// closeOnExecAbove marks every descriptor from 3 on close-on-exec, so
// that a process started next gets exactly the descriptors given to it:
// those a shell or a service manager left open without the flag stay
// usable here but do not leak into the next generation.
func closeOnExecAbove() {
	if err := closeRangeCloexec(3); err == nil {
		return
	}
	entries, err := os.ReadDir("/dev/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err == nil && fd >= 3 {
			unix.CloseOnExec(fd)
		}
	}
}

// statID identifies the file at path.
func statID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: time.Unix(st.Mtim.Unix())}, nil
}

// selfOrExe names the running binary: /proc/self/exe where there is one
// (it stays the running image's file after the path is replaced), else
// the path it was started from.
func selfOrExe(exe string) string {
	if s := selfExecutable(); s != "" {
		return s
	}
	return exe
}
