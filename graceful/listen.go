package graceful

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// listen binds a fresh listening socket for ep. Unix socket listeners never
// remove their path when closed: during a handover the path belongs to the
// process that serves it next, so removal is decided by the owner. A unix
// socket gets the permissions perm asks for, without ever being reachable
// with wider ones (see socketPerm.apply).
func listen(ctx context.Context, ep endpoint, perm socketPerm) (net.Listener, error) {
	var lc net.ListenConfig
	// Plain TCP, not the multipath TCP Go uses by default since 1.24:
	// Linux refuses socket filters on MPTCP sockets, and a final
	// shutdown needs one (see quiesce_linux.go).
	lc.SetMultipathTCP(false)
	if ep.network == "unix" {
		if err := removeStaleSocket("unix", ep.address); err != nil {
			return nil, err
		}
		if perm.set() {
			lc.Control = perm.beforeBind
		}
	}
	ln, err := lc.Listen(ctx, ep.network, ep.address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", ep, err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
		if err := perm.apply(ep.address); err != nil {
			_ = ln.Close()
			_ = os.Remove(ep.address)
			return nil, err
		}
	}
	return ln, nil
}

// removeStaleSocket removes a unix socket file left behind by a process
// that is gone, so that binding the path again works. A path that is not
// a socket, or a socket someone still listens on, is an error.
func removeStaleSocket(network, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check unix socket path: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("unix socket path %s exists and is not a socket: remove it or choose another path", path)
	}
	c, err := net.DialTimeout(network, path, time.Second)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("unix socket %s is in use by another process", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check whether unix socket %s is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale unix socket: %w", err)
	}
	return nil
}
