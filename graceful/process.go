package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/signal"
	"sync"
)

// Process runs the servers of one generation of a service and handles its
// lifecycle: signals, zero-downtime restarts, PID file and systemd
// notifications.
//
// Call [NewProcess] early in main, create the servers with
// [Process.NewServer] (their listeners are inherited from the previous
// generation when it has them), then call [Process.Run].
type Process struct {
	cfg    ProcessConfig
	logger *slog.Logger

	mu      sync.Mutex
	servers []*Server
}

// NewProcess prepares the process's lifecycle. It is not yet implemented
// beyond serving and graceful shutdown.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Process{cfg: cfg, logger: logger}, nil
}

// NewServer returns a server for address whose listener is ready.
func (p *Process) NewServer(address string, cfg ServerConfig) (*Server, error) {
	s := New(address, 0, cfg)
	if err := s.CreateListener(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.servers = append(p.servers, s)
	p.mu.Unlock()
	return s, nil
}

// Run serves every server of the process until ctx ends or a stop signal
// arrives, then shuts them down gracefully.
func (p *Process) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	p.mu.Lock()
	servers := p.servers
	p.mu.Unlock()
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.Serve(ctx) }()
	}
	var all []error
	for range servers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Restart replaces the process with a new generation.
func (p *Process) Restart(ctx context.Context) error {
	return fmt.Errorf("graceful: restart is not implemented yet")
}

// ReadinessHandler answers 200 while the process serves.
func (p *Process) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
}

// LivenessHandler answers 200 while the process runs.
func (p *Process) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
}
