package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

// tcpEcho answers every line of a connection with "pid=<pid> <line>".
//
// Shutdown stops accepting (the socket stays with the Process, so new
// connections queue for the next generation), lets each connection finish
// the exchange it is in, and closes it after that answer; a connection
// that sends nothing within grace is closed. Resume (after a rollback)
// serves again on a fresh listener.
type tcpEcho struct {
	p                *graceful.Process
	network, address string
	pid              int
	grace            time.Duration

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	draining bool
	loop     chan struct{} // closed when the accept loop of Serve has ended
	wg       sync.WaitGroup
}

func newTCPEcho(p *graceful.Process, network, address string, pid int, grace time.Duration) (*tcpEcho, error) {
	ln, err := p.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &tcpEcho{p: p, network: network, address: address, pid: pid, grace: grace, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

func (e *tcpEcho) Serve(context.Context) error {
	e.mu.Lock()
	ln := e.ln
	loop := make(chan struct{})
	e.loop = loop
	e.mu.Unlock()
	defer close(loop)
	for {
		c, err := ln.Accept()
		if err != nil {
			e.mu.Lock()
			draining := e.draining
			e.mu.Unlock()
			if draining {
				return graceful.ErrServerClosed
			}
			return fmt.Errorf("tcp echo: %w", err)
		}
		e.mu.Lock()
		if e.draining {
			// Accepted just as the drain began: it still gets its answer.
			_ = c.SetReadDeadline(time.Now().Add(e.grace))
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.handle(c)
	}
}

func (e *tcpEcho) handle(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(c, "pid=%d %s", e.pid, line); err != nil {
			return
		}
		e.mu.Lock()
		draining := e.draining
		e.mu.Unlock()
		if draining && r.Buffered() == 0 {
			// This exchange is done; the client reconnects to the next
			// generation. Lines it has sent already, read into r, are
			// answered first: closing would throw them away unanswered.
			return
		}
	}
}

func (e *tcpEcho) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.draining = true
	err := e.ln.Close()
	for c := range e.conns {
		// Idle connections get the grace to send one more line.
		_ = c.SetReadDeadline(time.Now().Add(e.grace))
	}
	loop := e.loop
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		// A connection Accept returned just before the listener closed is
		// counted once the loop has ended; wait for it too.
		if loop != nil {
			<-loop
		}
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		e.mu.Lock()
		for c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		<-done
		return ctx.Err()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (e *tcpEcho) Resume() error {
	ln, err := e.p.Listen(e.network, e.address)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ln, e.draining = ln, false
	return nil
}

// udpEcho answers every datagram with "pid=<pid> <payload>".
//
// Shutdown stops reading; the socket stays with the Process, so datagrams
// that arrive meanwhile wait in its receive buffer for the next
// generation, which reads the same socket. Resume reads again.
type udpEcho struct {
	p                *graceful.Process
	network, address string
	pid              int

	mu      sync.Mutex
	pc      net.PacketConn
	stopped bool
	served  chan struct{}
}

func newUDPEcho(p *graceful.Process, network, address string, pid int) (*udpEcho, error) {
	pc, err := p.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &udpEcho{p: p, network: network, address: address, pid: pid, pc: pc}, nil
}

func (e *udpEcho) Serve(context.Context) error {
	e.mu.Lock()
	pc := e.pc
	served := make(chan struct{})
	e.served = served
	e.mu.Unlock()
	defer close(served)
	buf := make([]byte, 64<<10)
	prefix := []byte(fmt.Sprintf("pid=%d ", e.pid))
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			e.mu.Lock()
			stopped := e.stopped
			e.mu.Unlock()
			if stopped {
				return graceful.ErrServerClosed
			}
			return fmt.Errorf("udp echo: %w", err)
		}
		_, _ = pc.WriteTo(append(append([]byte{}, prefix...), buf[:n]...), from)
	}
}

func (e *udpEcho) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.stopped = true
	pc, served := e.pc, e.served
	e.mu.Unlock()
	// Unblock the read; the datagram being answered, if any, is answered.
	_ = pc.SetReadDeadline(time.Now())
	if served != nil {
		select {
		case <-served:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return pc.Close()
}

func (e *udpEcho) Resume() error {
	pc, err := e.p.ListenPacket(e.network, e.address)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pc, e.stopped = pc, false
	return nil
}
