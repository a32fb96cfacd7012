// Package grpcservice serves a gRPC server as a [graceful.Service]: it is
// handed over on restart, drained with GracefulStop, and served again
// after a rollback, in step with the process's HTTP servers.
//
//	svc, err := grpcservice.New(proc, "tcp", ":9090", func() *grpc.Server {
//		s := grpc.NewServer()
//		pb.RegisterGreeterServer(s, greeter{})
//		return s
//	})
//	if err != nil { ... }
//	if err := proc.Add(svc); err != nil { ... }
//	proc.Run(ctx)
//
// The package graceful does not depend on gRPC; this one does.
package grpcservice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gracekit/gracekit/graceful"
)

// Service is a gRPC server served by a [graceful.Process]. It implements
// [graceful.Service], [graceful.StoppingService] and
// [graceful.ResumableService]; register it with [graceful.Process.Add].
//
// Each Service registers the standard health service
// (grpc.health.v1.Health) on its server: the overall status (service name
// "") is SERVING while it serves and NOT_SERVING from the moment its
// process stops being ready (Stopping), so that load balancers and
// Kubernetes gRPC probes turn away before the drain begins.
type Service struct {
	listen    func(network, address string) (net.Listener, error) // p.Listen
	network   string
	address   string
	newServer func() *grpc.Server

	mu     sync.Mutex
	srv    *grpc.Server
	health *health.Server
	ln     *handoffListener
	stop   bool // Shutdown was called on srv
}

// New returns a Service that serves the servers newServer makes on a
// listener from p.Listen(network, address) (network is "tcp", "tcp4",
// "tcp6" or "unix"). newServer is called once now, and once more each
// time the service resumes after a rollback: it must return a new server
// with the application's services registered, and must not register the
// health service (New does). Call New before p.Run.
//
// The server accepts on a listener that wraps each connection, so that
// Shutdown knows when the server has taken it up. grpc-go, not seeing a
// *net.TCPConn, then does not set keepalive.ServerParameters.Timeout as
// the socket's TCP_USER_TIMEOUT; its keepalive pings still close dead
// connections.
func New(p *graceful.Process, network, address string, newServer func() *grpc.Server) (*Service, error) {
	if p == nil || newServer == nil {
		return nil, errors.New("grpcservice: New needs a Process and a newServer function")
	}
	s := &Service{listen: p.Listen, network: network, address: address, newServer: newServer}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare makes a fresh server on a fresh listener.
func (s *Service) prepare() error {
	inner, err := s.listen(s.network, s.address)
	if err != nil {
		return fmt.Errorf("grpcservice: %w", err)
	}
	srv := s.newServer()
	if srv == nil {
		_ = inner.Close()
		return errors.New("grpcservice: newServer returned nil")
	}
	hs := health.NewServer() // the overall status starts SERVING
	healthpb.RegisterHealthServer(srv, hs)
	s.mu.Lock()
	s.srv, s.health, s.ln, s.stop = srv, hs, newHandoffListener(inner), false
	s.mu.Unlock()
	return nil
}

// Server returns the gRPC server being served now: a different one after
// each Resume.
func (s *Service) Server() *grpc.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Health returns the health server of the current gRPC server, on which
// the application may set the status of its own service names. The
// overall status ("") is the Service's.
func (s *Service) Health() *health.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Addr returns the address the listener is bound to.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln.Addr()
}

// Serve serves the gRPC server on its listener until Shutdown, and returns
// [graceful.ErrServerClosed] after Shutdown, or the error that made the
// server fail. ctx is not used: Shutdown stops the service.
func (s *Service) Serve(context.Context) error {
	s.mu.Lock()
	srv, ln, stopped := s.srv, s.ln, s.stop
	s.mu.Unlock()
	if stopped {
		return graceful.ErrServerClosed
	}
	err := srv.Serve(ln)
	s.mu.Lock()
	stopped = s.stop && s.srv == srv
	s.mu.Unlock()
	if err == nil || errors.Is(err, grpc.ErrServerStopped) || stopped {
		return graceful.ErrServerClosed
	}
	return err
}

// Stopping sets the overall health status to NOT_SERVING (and every other
// service name too), for good: Resume starts a new health server.
func (s *Service) Stopping() {
	s.Health().Shutdown()
}

// Shutdown stops the gRPC server gracefully: it closes the listener (the
// process keeps the socket, on which new connections wait for the next
// generation), waits until the server has taken up every connection it
// accepted, then sends GOAWAY on every connection, refuses new RPCs and
// waits for the RPCs in progress to finish. When ctx ends first, it stops
// the server at once, cutting the RPCs that are left, and returns ctx's
// error. The health status is NOT_SERVING from Shutdown on.
//
// The wait matters: grpc.Server.GracefulStop closes, unanswered, a
// connection its accept loop has accepted but not begun to serve, and
// the client, whose request is already on the wire, sees a reset.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, hs, ln := s.srv, s.health, s.ln
	s.stop = true
	s.mu.Unlock()
	hs.Shutdown()
	_ = ln.Close()
	if err := ln.waitTaken(ctx); err != nil {
		srv.Stop()
		return err
	}
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.Stop()
		<-done
		return ctx.Err()
	}
}

// Resume prepares a new gRPC server from newServer on a fresh listener of
// the same socket, with a new health server answering SERVING, for the
// Process to Serve after a rollback. The drain of the previous server
// goes on undisturbed.
func (s *Service) Resume() error {
	return s.prepare()
}

var (
	_ graceful.StoppingService  = (*Service)(nil)
	_ graceful.ResumableService = (*Service)(nil)
)
