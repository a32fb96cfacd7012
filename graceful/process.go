package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Errors a restart can end with, besides the child's own failure.
var (
	// ErrRestartInProgress: a restart was asked for while another one was
	// under way. Restarts never overlap; signals that arrive meanwhile are
	// coalesced into the one under way.
	ErrRestartInProgress = errors.New("graceful: a restart is already in progress")

	// ErrNotRunning: Restart was called before Run or after the process
	// stopped serving.
	ErrNotRunning = errors.New("graceful: the process is not running")

	// ErrTooManyGenerations: a restart would leave more generations alive
	// than ProcessConfig.MaxGenerations allows.
	ErrTooManyGenerations = errors.New("graceful: too many generations alive")

	// ErrRestartNotSupported: this platform cannot pass listening sockets
	// to a new process (Windows).
	ErrRestartNotSupported = errors.New("graceful: restart is not supported on this platform")
)

// Process runs the servers of one generation of a service and handles its
// lifecycle: stop signals, zero-downtime restarts, the PID file, systemd
// notifications and health endpoints.
//
// A restart starts a new copy of the binary (same arguments, environment
// and working directory) that inherits the listening sockets. The old
// process keeps serving until the new one reports ready; only then does it
// stop accepting and drain. A new generation that fails to start (a bad
// binary, an invalid config file, a crash, a hang past
// [ProcessConfig.UpgradeTimeout]) is stopped and reaped, the reason is
// logged with the tail of its standard error, and the old process goes on
// serving as if nothing happened.
//
// Use it in main:
//
//	p, err := graceful.NewProcess(procCfg) // early: restart signals are caught from here on
//	srv, err := p.NewServer(":8080", srvCfg) // inherited across restarts
//	err = p.Run(ctx)                         // returns once this generation is done
type Process struct {
	cfg    ProcessConfig
	logger *slog.Logger
	sys    system

	pid        int
	exe, dir   string
	args       []string
	generation int
	ancestors  []int       // older generations that may still drain
	parent     *parentLink // how to tell the parent we are ready
	worker     bool        // started by a supervisor, not by a restart
	control    *os.File    // a worker's command pipe from its supervisor
	inherited  []inheritedListener

	sigCh      chan os.Signal
	restartReq chan restartRequest
	stopping   atomic.Bool // readiness is 503 from the moment this is set

	mu      sync.Mutex
	servers []*Server
	owned   []ownedListener
	running bool
	done    bool
}

// ownedListener is a listening socket the process serves, under the name
// the next generation will look it up by.
type ownedListener struct {
	name string
	ln   net.Listener
	ep   endpoint
}

// NewProcess prepares the lifecycle of this process. Call it early in
// main, before loading anything slow: from here on the restart signal no
// longer has its default effect (SIGHUP would kill the process).
//
// When the process was started by a restart, NewProcess adopts the
// listening sockets its parent handed over (and removes the handover
// variables from the environment); in the first generation it adopts the
// sockets systemd passed by socket activation. Either way
// [Process.NewServer] picks them up by address.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	return newProcess(cfg, osSystem{})
}

func newProcess(cfg ProcessConfig, sys system) (*Process, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RestartSignal == nil {
		cfg.RestartSignal = DefaultProcessConfig().RestartSignal
	}
	if cfg.UpgradeTimeout <= 0 {
		cfg.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if cfg.MaxGenerations == 0 {
		cfg.MaxGenerations = DefaultMaxGenerations
	}
	if cfg.Mode == "" {
		cfg.Mode = DefaultRestartMode
	}
	if cfg.MaxGenerations < 2 {
		return nil, fmt.Errorf("graceful: MaxGenerations is %d; a restart needs at least 2 (the old and the new generation)", cfg.MaxGenerations)
	}
	if cfg.Mode != RestartModeReexec && cfg.Mode != RestartModeSupervisor {
		return nil, fmt.Errorf("graceful: unknown restart mode %q: use %q or %q", cfg.Mode, RestartModeReexec, RestartModeSupervisor)
	}
	p := &Process{
		cfg:        cfg,
		logger:     cfg.Logger,
		sys:        sys,
		pid:        os.Getpid(),
		args:       os.Args,
		generation: 1,
		sigCh:      make(chan os.Signal, 16),
		restartReq: make(chan restartRequest),
	}
	// Catch the restart signal at once: a restart signal must never
	// kill a process that is still starting.
	sys.notifySignals(p.sigCh, cfg.RestartSignal)

	var err error
	if p.dir, err = os.Getwd(); err != nil {
		return nil, fmt.Errorf("graceful: working directory: %w", err)
	}
	if p.exe, err = resolveExecutable(cfg.Executable, p.dir); err != nil {
		return nil, err
	}
	if err := p.inherit(); err != nil {
		sys.stopSignals(p.sigCh)
		return nil, err
	}
	p.logger = p.logger.With("pid", p.pid, "generation", p.generation)
	return p, nil
}

// resolveExecutable returns the absolute path of the binary a restart
// starts.
func resolveExecutable(configured, dir string) (string, error) {
	if configured != "" {
		if !filepath.IsAbs(configured) {
			configured = filepath.Join(dir, configured)
		}
		return configured, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("graceful: find the running binary: %w", err)
	}
	return exe, nil
}

// Generation returns the number of this generation: 1 for a process
// started by hand or by a supervisor, one more than its parent's for a
// process started by a restart.
func (p *Process) Generation() int {
	return p.generation
}

// NewServer returns a server for address whose listener is ready: the
// socket inherited from the previous generation or passed by systemd when
// there is one for this address, a freshly bound one otherwise. An
// inherited socket is found by the exact address string the previous
// generation used (so ":0" keeps its port across restarts) or by the
// address it is bound to. Call [Server.CreateListenerTLS] on the result to
// serve HTTPS on it.
//
// The Process serves the server from [Process.Run] and shuts it down with
// the process; the configured health paths are answered before cfg's
// handler sees the request.
func (p *Process) NewServer(address string, cfg ServerConfig) (*Server, error) {
	ep, err := parseAddress(address)
	if err != nil {
		return nil, fmt.Errorf("graceful: %w", err)
	}
	if len(cfg.Listeners) > 0 {
		return nil, errors.New("graceful: Process.NewServer makes the listener itself: leave ServerConfig.Listeners empty")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.done {
		return nil, errors.New("graceful: NewServer must be called before Process.Run")
	}
	for _, o := range p.owned {
		if o.name == address {
			return nil, fmt.Errorf("graceful: the process already has a server for %s", address)
		}
	}
	perm := cfg.socketPerm()
	if ep.network == "unix" {
		if err := perm.check(); err != nil {
			return nil, fmt.Errorf("graceful: server %s: %w", address, err)
		}
	}
	ln, from, err := p.claimLocked(address, ep)
	if err != nil {
		return nil, err
	}
	if ln == nil {
		if ln, err = listen(context.Background(), ep, perm); err != nil {
			return nil, fmt.Errorf("graceful: %w%s", err, p.unclaimedHintLocked())
		}
		from = "bound"
	} else if ep.network == "unix" {
		// The settings may have changed since the socket was bound.
		if err := perm.apply(ep.address); err != nil {
			closeInherited([]inheritedListener{{ln: ln}})
			return nil, fmt.Errorf("graceful: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = p.logger
	}
	cfg.Listeners = []net.Listener{ln}
	cfg.Handler = p.healthHandler(cfg.Handler)
	s := New(address, 0, cfg)
	s.mu.Lock()
	s.setListenersLocked([]net.Listener{ln})
	s.mu.Unlock()
	p.servers = append(p.servers, s)
	p.owned = append(p.owned, ownedListener{name: address, ln: ln, ep: ep})
	p.logger.Debug("listener ready", "address", address, "listening", formatAddr(ln.Addr()), "source", from)
	return s, nil
}

// unclaimedHintLocked names the inherited sockets no server has claimed,
// for an error about binding: a socket systemd passed on another address
// than the configured one is the usual cause of "address already in use".
func (p *Process) unclaimedHintLocked() string {
	if len(p.inherited) == 0 {
		return ""
	}
	names := make([]string, 0, len(p.inherited))
	for _, in := range p.inherited {
		names = append(names, fmt.Sprintf("%s (%s, from %s)", formatAddr(in.ln.Addr()), in.name, in.from))
	}
	return fmt.Sprintf(" (inherited sockets that match no server address: %s)", strings.Join(names, ", "))
}

// healthHandler answers the configured readiness and liveness paths and
// passes everything else to next.
func (p *Process) healthHandler(next http.Handler) http.Handler {
	if next == nil {
		next = http.DefaultServeMux
	}
	ready, live := p.cfg.ReadinessPath, p.cfg.LivenessPath
	if ready == "" && live == "" {
		return next
	}
	readiness, liveness := p.ReadinessHandler(), p.LivenessHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case ready:
			if ready != "" {
				readiness.ServeHTTP(w, r)
				return
			}
		case live:
			if live != "" {
				liveness.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ReadinessHandler answers 200 "ready" while the process serves and 503
// "shutting down" from the moment a shutdown is requested (before the
// [ProcessConfig.ShutdownDelay]) or the process has handed over to a new
// generation. Mount it where your load balancer or Kubernetes readiness
// probe looks, or set [ProcessConfig.ReadinessPath].
func (p *Process) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if p.stopping.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

// LivenessHandler answers 200 "alive" for as long as the process runs,
// draining included: a draining process must not be killed by a liveness
// probe.
func (p *Process) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("alive\n"))
	})
}
