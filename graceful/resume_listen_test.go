//go:build unix

package graceful

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// relisten is a ResumableService that takes a fresh listener from
// Process.Listen in Resume, as a gRPC adapter does.
type relisten struct {
	p       *Process
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	resumed int
}

func (s *relisten) Serve(context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln.Close()
}

func (s *relisten) Resume() error {
	ln, err := s.p.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
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
