package grpcservice

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/gracekit/gracekit/graceful"
)

// gateListener is a loopback listener that parks grpc.Server's goroutine
// for the first connection it accepts: that goroutine calls Addr right
// before it checks whether the server is stopping, and Addr waits for
// release. The test thereby holds a connection in the state "accepted,
// not yet served" for as long as it likes.
type gateListener struct {
	net.Listener
	mu        sync.Mutex
	armed     bool
	parked    chan struct{} // closed when the goroutine waits in Addr
	release   chan struct{}
	closed    chan struct{} // closed at the first Close
	closeOnce sync.Once
}

func (g *gateListener) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err == nil {
		g.mu.Lock()
		g.armed = true
		g.mu.Unlock()
	}
	return c, err
}

func (g *gateListener) Addr() net.Addr {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.parked)
		<-g.release
	}
	return g.Listener.Addr()
}

func (g *gateListener) Close() error {
	var err error
	g.closeOnce.Do(func() {
		err = g.Listener.Close()
		close(g.closed)
	})
	return err
}

// TestShutdownServesAConnectionAcceptedJustBefore: a connection the
// server accepted but had not begun to serve when Shutdown came is served
// (SETTINGS, then GOAWAY), not closed unread, which a client with a
// request on the wire sees as a reset.
func TestShutdownServesAConnectionAcceptedJustBefore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateListener{Listener: ln, parked: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	defer gate.Close()
	s := &Service{
		listen:    func(string, string) (net.Listener, error) { return gate, nil },
		newServer: func() *grpc.Server { return grpc.NewServer() },
	}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fr := http2.NewFramer(conn, conn)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	<-gate.parked

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(ctx) }()
	<-gate.closed // Shutdown has begun: the listener is closed
	close(gate.release)

	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var settings, goAway bool
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !settings || !goAway {
				t.Fatalf("the connection ended (%v) after SETTINGS=%v GOAWAY=%v: it was closed instead of served", err, settings, goAway)
			}
			break
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				settings = true
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			goAway = true
		}
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, graceful.ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
}
