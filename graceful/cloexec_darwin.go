//go:build darwin

package graceful

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Darwin has no atomic close-on-exec flags for pipes and sockets: the
// descriptors are made under syscall.ForkLock, as the standard library
// does, so that no fork in between inherits them.

// pipeCloexec makes a pipe whose ends are close-on-exec.
func pipeCloexec() (r, w int, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return -1, -1, err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return p[0], p[1], nil
}

// socketpairCloexec makes a close-on-exec socket pair.
func socketpairCloexec(domain, typ int) ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(domain, typ, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}

// socketCloexec makes a close-on-exec socket.
func socketCloexec(domain, typ int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(domain, typ, 0)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return fd, nil
}
