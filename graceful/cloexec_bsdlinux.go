//go:build unix && !darwin

package graceful

import "golang.org/x/sys/unix"

// pipeCloexec makes a pipe whose ends are close-on-exec.
func pipeCloexec() (r, w int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, err
	}
	return p[0], p[1], nil
}

// socketpairCloexec makes a close-on-exec socket pair.
func socketpairCloexec(domain, typ int) ([2]int, error) {
	return unix.Socketpair(domain, typ|unix.SOCK_CLOEXEC, 0)
}

// socketCloexec makes a close-on-exec socket.
func socketCloexec(domain, typ int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
}
