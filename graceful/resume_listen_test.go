//go:build unix

package graceful

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// relisten is a ResumableService that takes a fresh listener from
// Process.Listen in Resume, as a gRPC adapter does. Each Shutdown closes
// the listener of the oldest round not stopped yet: as the interface
// says, a rollback's Resume may come before the Shutdown of the round
// before it, so the listener Resume took last is not always the one to
// close (a service that closed it left the older round's Serve blocked
// in Accept, and the process never finished its stop).
type relisten struct {
	p       *Process
	addr    string
	mu      sync.Mutex
	ln      net.Listener // the first round's (set by the test)
	rounds  []net.Listener
	stopped int // rounds whose listener a Shutdown has closed
	resumed int
	// hold, if set, keeps Shutdown from closing the listener and
	// returning (work still draining) until it is closed.
	hold chan struct{}
}

// round returns the listener of the newest round.
func (s *relisten) round() net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rounds) == 0 {
		s.rounds = []net.Listener{s.ln}
	}
	return s.rounds[len(s.rounds)-1]
}

func (s *relisten) Serve(context.Context) error {
	ln := s.round()
	for {
		c, err := ln.Accept()
		if err != nil {
			return ErrServerClosed
		}
		_, _ = c.Write([]byte("hi\n"))
		_ = c.Close()
	}
}

func (s *relisten) Shutdown(context.Context) error {
	s.round() // the first round's, if nothing served yet
	s.mu.Lock()
	ln := s.rounds[s.stopped]
	s.stopped++
	s.mu.Unlock()
	if s.hold != nil {
		<-s.hold
	}
	return ln.Close()
}

func (s *relisten) Resume() error {
	ln, err := s.p.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.round() // the first round's is kept first
	s.mu.Lock()
	s.rounds = append(s.rounds, ln)
	s.resumed++
	s.mu.Unlock()
	return nil
}

func TestUnitListenDuringRunOnlyForAnOwnedSocket(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	ln, err := p.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &relisten{p: p, addr: "127.0.0.2:0", ln: ln}
	if err := p.Add(svc); err != nil {
		t.Fatal(err)
	}
	errc := runProcess(t, sys, p, srv)
	if _, err := p.Listen("tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("Listen on a new address during Run succeeded")
	}
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	c.exit("exit status 7") // the successor dies in probation: roll back, Resume re-listens
	waitFor(t, "the rollback", 5*time.Second, func() bool { return p.totals.get(totalRollbacks) == 1 })
	svc.mu.Lock()
	resumed, addr := svc.resumed, svc.ln.Addr().String()
	svc.mu.Unlock()
	if resumed != 1 || addr != ln.Addr().String() {
		t.Fatalf("resumed %d times on %s, want once on %s", resumed, addr, ln.Addr())
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 3)
	if _, err := conn.Read(b); err != nil || string(b) != "hi\n" {
		t.Fatalf("after the rollback: %q %v", b, err)
	}
	conn.Close()
	stopProcess(t, sys, errc)
}

// TestUnitRollbackServesRetiredSocketsOfServersAndServices: a successor
// that takes none of the sockets (the addresses changed) dies within the
// probation while the old generation still drains (a service's Shutdown
// has not returned, and its listener is still open): the old generation
// serves every address again, the server's (closed at once, bound again
// on its port) and the service's (kept until the drain ends and served
// again as it is: binding it again fails while the service's listener is
// open).
func TestUnitRollbackServesRetiredSocketsOfServersAndServices(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	ln, err := p.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	svc := &relisten{p: p, addr: "127.0.0.2:0", ln: ln, hold: hold}
	if err := p.Add(svc); err != nil {
		t.Fatal(err)
	}
	srvAddr, svcAddr := srv.GetListenedAddress(), ln.Addr().String()
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.readyTakingNone(t)
	waitBindable(t, "the server's socket to be closed", srvAddr)
	c.exit("exit status 7")
	waitFor(t, "the rollback", 10*time.Second, func() bool {
		svc.mu.Lock()
		defer svc.mu.Unlock()
		return srv.Status() == ServerStatusRunning && svc.resumed == 1 && p.totals.get(totalRollbacks) == 1
	})
	close(hold) // the old round's drain ends
	for _, addr := range []string{srvAddr, svcAddr} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s after the rollback: %v", addr, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 2)
		if _, err := conn.Read(b); err != nil {
			t.Fatalf("%s after the rollback: %v", addr, err)
		}
		conn.Close()
	}
	stopProcess(t, sys, errc)
}

// TestUnitRollbackBindsARetiredUnixSocketWithItsMode: a retired unix
// socket of a server is closed at once and, after a rollback, bound again
// with the mode the server asked for (not the umask's).
func TestUnitRollbackBindsARetiredUnixSocketWithItsMode(t *testing.T) {
	sys := newFakeSystem()
	sys.endAll(t)
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	cfg.Probation = time.Hour
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.sock")
	scfg := testConfig(t, nil)
	scfg.UnixSocketMode = 0o666
	srv, err := p.NewServer(UnixAddressPrefix+path, scfg)
	if err != nil {
		t.Fatal(err)
	}
	if mode, _ := socketStat(t, path); mode.Perm() != 0o666 {
		t.Fatalf("socket mode %v before the restart, want 0666", mode.Perm())
	}
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.readyTakingNone(t)
	waitFor(t, "the server's socket to be closed", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.socks.owned[0].fd < 0
	})
	c.exit("exit status 7")
	waitFor(t, "the rollback", 10*time.Second, func() bool {
		return srv.Status() == ServerStatusRunning && p.totals.get(totalRollbacks) == 1
	})
	if mode, _ := socketStat(t, path); mode.Perm() != 0o666 {
		t.Errorf("socket mode %v after the rollback, want 0666", mode.Perm())
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
	conn.Close()
	stopProcess(t, sys, errc)
}
