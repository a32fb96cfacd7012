package grpcservice

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// handoffListener is the listener a grpc.Server accepts on. It counts the
// connections it has handed to the server that the server has not yet
// begun to serve, so that Shutdown can wait for them before GracefulStop.
//
// grpc.Server.Serve hands each accepted connection to a new goroutine,
// which first checks whether the server is stopping and, if it is, closes
// the connection unread. A client whose connection the kernel had already
// completed, and whose request is already sent, then sees a reset. The
// server's first call on the connection (SetDeadline, before its
// handshake; or Read, Write, Close) shows that the goroutine got past that
// check, or closed the connection for another reason.
type handoffListener struct {
	net.Listener

	mu        sync.Mutex
	accepting int           // Accept calls in progress
	pending   int           // connections handed over, not yet taken up
	changed   chan struct{} // closed and replaced when either count falls
}

func newHandoffListener(ln net.Listener) *handoffListener {
	return &handoffListener{Listener: ln, changed: make(chan struct{})}
}

// Accept returns the next connection, wrapped so that the server's first
// use of it is seen.
func (l *handoffListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.accepting++
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepting--
	if err != nil {
		l.wakeLocked()
		return nil, err
	}
	l.pending++
	return &handoffConn{Conn: c, l: l}, nil
}

func (l *handoffListener) taken() {
	l.mu.Lock()
	l.pending--
	l.wakeLocked()
	l.mu.Unlock()
}

func (l *handoffListener) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitTaken waits until no Accept is in progress and the server has taken
// up every connection Accept returned. Close the listener first, or
// another connection may come at any time. It returns ctx's error if ctx
// ends first.
func (l *handoffListener) waitTaken(ctx context.Context) error {
	for {
		l.mu.Lock()
		idle := l.accepting == 0 && l.pending == 0
		ch := l.changed
		l.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handoffConn reports the server's first call on a connection.
//
// The wrapping hides the *net.TCPConn from grpc-go, which therefore
// neither applies keepalive.ServerParameters.Timeout as the socket's
// TCP_USER_TIMEOUT nor uses its non-blocking reader on such connections;
// its keepalive pings still close dead connections.
type handoffConn struct {
	net.Conn
	l    *handoffListener
	once sync.Once
}

func (c *handoffConn) take() { c.once.Do(c.l.taken) }

func (c *handoffConn) SetDeadline(t time.Time) error {
	c.take()
	return c.Conn.SetDeadline(t)
}

func (c *handoffConn) Read(b []byte) (int, error) {
	c.take()
	return c.Conn.Read(b)
}

func (c *handoffConn) Write(b []byte) (int, error) {
	c.take()
	return c.Conn.Write(b)
}

func (c *handoffConn) Close() error {
	c.take()
	return c.Conn.Close()
}

// SyscallConn gives the socket of the connection, for grpc-go's channelz
// socket options.
func (c *handoffConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("grpcservice: the connection has no socket")
}
