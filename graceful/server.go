package graceful

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by [Server.Serve] when the server was shut
// down or closed before Serve was called, and by the listener functions
// once the server has stopped.
var ErrServerClosed = errors.New("graceful: server closed")

// Server is an HTTP or HTTPS server that stops without losing a request.
//
// A Server serves one address (or the listeners of
// [ServerConfig.Listeners]). Create it with [New], optionally bind its
// listener early with [Server.CreateListener] or [Server.CreateListenerTLS]
// (so that "address in use" shows up before anything else starts), then
// call [Server.Serve]. [Server.Shutdown] drains it: it stops accepting,
// lets keep-alive clients finish with "Connection: close", waits for the
// requests in flight, tells hijacked connections to go, and only then
// closes what is left. All methods are safe for concurrent use.
type Server struct {
	address string
	fd      int
	config  ServerConfig
	logger  *slog.Logger
	handler http.Handler
	tickets *ticketKeyer // session-ticket keys of the Process's lineage
	// quiet: a server of a Process, which logs one line for all its
	// servers' drains; each server's own lines are at DEBUG.
	quiet bool

	mu          sync.Mutex
	rd          *round // the current round of serving
	prev        *round // the round before it, after a rollback
	https       bool
	tlsConfig   *tls.Config // as CreateListenerTLS made it
	fdFile      *os.File    // the duplicate handed out by Fd, closed at the end
	unlinkPaths []string    // unix socket paths this server created

	label    atomic.Pointer[string] // the listened address, once known
	inFlight atomic.Int64
	requests atomic.Uint64
}

// round is one round of serving: from Serve to the end of its drain. A
// server made by [Process.NewServer] serves another round, on a fresh
// listener of the same socket, when its generation rolls back (see
// [ProcessConfig.Probation]); the drain of the round before goes on
// undisturbed meanwhile.
type round struct {
	srv   *Server
	http  *http.Server
	conns *connTracker
	h2    *h2Set // the round's HTTP/2 connections

	raw      []net.Listener // listeners as bound or adopted, before TLS
	tls      bool           // the round serves HTTPS
	serving  bool
	stopping bool
	drain    *drainState

	status     atomic.Int32
	draining   atomic.Bool
	turnedAway atomic.Bool // the drain has turned its listeners away (see turnAway)
	drainedReq atomic.Uint64

	drainCh chan struct{} // closed when a shutdown begins
	stopped chan struct{} // closed when the round has fully stopped
	serveWG sync.WaitGroup
}

// New returns a server for address that serves with config.
//
// address is "host:port", ":port", [FreePortAddress] (":0") or
// "unix:/path/to.sock". When fd is greater than zero the server does not
// bind address: it adopts the listening socket it inherited as file
// descriptor fd (see [Server.Fd]), checks that it is a listening stream
// socket bound to address (when address names a port), and takes
// ownership of it. Problems with either show up as errors from
// [Server.CreateListener], [Server.CreateListenerTLS] or [Server.Serve].
func New(address string, fd int, config ServerConfig) *Server {
	logger := config.Logger
	if logger == nil {
		logger = slog.Default()
	}
	handler := config.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	s := &Server{
		address: address,
		fd:      fd,
		config:  config,
		logger:  logger,
		handler: handler,
	}
	s.rd = s.newRound()
	return s
}

// newRound prepares a round of serving.
func (s *Server) newRound() *round {
	r := &round{
		srv:     s,
		conns:   newConnTracker(),
		drainCh: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	r.h2 = newH2Set(r.conns)
	base := context.WithValue(context.Background(), drainKey{}, r.drainCh)
	r.http = &http.Server{
		Handler:           r,
		ReadTimeout:       s.config.ReadTimeout,
		ReadHeaderTimeout: s.config.ReadHeaderTimeout,
		WriteTimeout:      s.config.WriteTimeout,
		IdleTimeout:       s.config.IdleTimeout,
		MaxHeaderBytes:    s.config.MaxHeaderBytes,
		ConnState:         connState,
		ConnContext:       connContext,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	r.http.Protocols.SetHTTP1(true)
	r.http.SetKeepAlivesEnabled(s.config.KeepAlive)
	return r
}

// resume starts a new round on ln, after a drain that handed over (a
// rollback): the server serves again, as the same *Server.
func (s *Server) resume(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rd.drain == nil || !s.rd.drain.handover {
		return fmt.Errorf("graceful: server %s cannot serve again: it was not handed over", s.describe())
	}
	s.prev = s.rd
	s.rd = s.newRound()
	s.setListenersLocked([]net.Listener{ln})
	return nil
}

// ServeHTTP is the round's handler for net/http: it wraps the user's
// handler, counts requests and gives requests over TLS their Request.TLS.
// (A draining server's "Connection: close" is added by the conn as the
// response's header is written, see conn.Write.)
func (rd *round) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := rd.srv
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.requests.Add(1)
	if rd.draining.Load() {
		rd.drainedReq.Add(1)
	}
	if rd.tls && r.TLS == nil {
		// net/http sets Request.TLS only on a *tls.Conn of its own.
		if c, ok := r.Context().Value(connKey{}).(*conn); ok {
			r.TLS = c.tlsState
		}
	}
	s.handler.ServeHTTP(w, r)
}

// CreateListener binds the server's address, or adopts its inherited file
// descriptor or configured listeners, without serving yet, so that errors
// such as "address in use" show up before anything else starts. Calling it
// is optional: Serve creates a plain listener when there is none. It does
// nothing when the server already has a plain listener (a server made by
// [Process.NewServer] has one from the start).
func (s *Server) CreateListener() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createListenerLocked(nil)
}

func (s *Server) createListenerLocked(tlsConfig *tls.Config) error {
	switch {
	case s.rd.stopping:
		return ErrServerClosed
	case s.rd.serving:
		return fmt.Errorf("graceful: server %s is already serving", s.describe())
	case s.tlsConfig != nil:
		return fmt.Errorf("graceful: server %s already serves HTTPS", s.describe())
	}
	if len(s.rd.raw) == 0 {
		raw, err := s.openListeners()
		if err != nil {
			return err
		}
		s.setListenersLocked(raw)
	}
	if tlsConfig != nil {
		s.tlsConfig = tlsConfig
		s.https = true
		s.tickets.apply(tlsConfig, time.Now())
	}
	return nil
}

// setListenersLocked installs the raw listeners and names the server by
// the address they really listen on, for logs and errors.
func (s *Server) setListenersLocked(raw []net.Listener) {
	s.rd.raw = raw
	addrs := make([]string, 0, len(raw))
	for _, ln := range raw {
		addrs = append(addrs, formatAddr(ln.Addr()))
	}
	label := strings.Join(addrs, ",")
	s.label.Store(&label)
}

// openListeners returns the raw listeners of the server: the configured
// ones, the inherited file descriptor, or a freshly bound socket.
func (s *Server) openListeners() ([]net.Listener, error) {
	if len(s.config.Listeners) > 0 {
		return append([]net.Listener(nil), s.config.Listeners...), nil
	}
	if s.fd > 0 {
		ln, err := adoptListener(s.fd, s.address)
		if err != nil {
			return nil, fmt.Errorf("graceful: adopt inherited listener: %w", err)
		}
		return []net.Listener{ln}, nil
	}
	ep, err := parseAddress(s.address)
	if err != nil {
		return nil, fmt.Errorf("graceful: %w", err)
	}
	if ep.network == "unix" {
		if err := s.config.socketPerm().check(); err != nil {
			return nil, fmt.Errorf("graceful: %w", err)
		}
	}
	ln, err := listen(context.Background(), ep, s.config.socketPerm())
	if err != nil {
		return nil, fmt.Errorf("graceful: %w", err)
	}
	if ep.network == "unix" {
		s.unlinkPaths = append(s.unlinkPaths, ep.address)
	}
	return []net.Listener{ln}, nil
}

// Serve accepts connections and serves them until the server is shut
// down. It creates a plain HTTP listener first when neither
// CreateListener nor CreateListenerTLS was called.
//
// Cancelling ctx starts a graceful shutdown bounded by
// [ServerConfig.GracefulShutdownTimeout]. Serve returns nil once a
// shutdown (from ctx, [Server.Shutdown] or [Server.Close]) has finished:
// after the drain, not when it begins, so that a main function that
// returns when Serve does never cuts a request. It returns
// [ErrServerClosed] when the server was stopped before Serve was called,
// and the error otherwise: a listener that cannot be created or that
// fails while serving (the server is then closed).
func (s *Server) Serve(ctx context.Context) error {
	wait, err := s.start(nil)
	if err != nil {
		return err
	}
	return wait(ctx)
}

// start begins serving: the round is serving and its accept loops are
// started when it returns, so that a shutdown from then on drains it as
// one that served (a Process reports ready after starting its servers,
// and a drain may follow at once). wait is the rest of Serve. With
// failed set (a Process's server), nothing need call wait: failed is
// called once, in a goroutine of its own, if a listener fails while the
// server is not stopping, after the server has been closed.
func (s *Server) start(failed func(error)) (wait func(ctx context.Context) error, err error) {
	s.mu.Lock()
	r := s.rd
	if r.stopping {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	if r.serving {
		s.mu.Unlock()
		return nil, fmt.Errorf("graceful: Serve called twice on server %s", s.describe())
	}
	if len(r.raw) == 0 {
		if err := s.createListenerLocked(nil); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	r.serving = true
	r.tls = s.https
	if s.https && (s.tlsConfig == nil || slices.Contains(s.tlsConfig.NextProtos, "h2")) {
		// HTTP/2 over the conn's own TLS (see conn.go).
		r.http.Protocols.SetUnencryptedHTTP2(true)
	}
	listeners := make([]net.Listener, len(r.raw))
	for i, ln := range r.raw {
		listeners[i] = &listener{Listener: ln, srv: s, rd: r, tlsConfig: s.tlsConfig}
	}
	r.status.Store(int32(ServerStatusRunning))
	var errc chan error // the listeners' errors, for wait (with no failed)
	if failed == nil {
		errc = make(chan error, len(listeners))
	}
	var failOnce sync.Once
	for _, ln := range listeners {
		r.serveWG.Add(1)
		go func() {
			defer r.serveWG.Done()
			err := r.http.Serve(ln)
			if failed == nil {
				errc <- err
			} else if !s.isStopping(r) {
				failOnce.Do(func() { go func() { failed(s.serveFailed(err)) }() })
			}
		}()
	}
	s.mu.Unlock()

	if level := s.infoLevel(); s.logger.Enabled(context.Background(), level) {
		s.logger.Log(context.Background(), level, "serving", "address", s.GetListenedAddress(), "https", s.IsHttps())
	}

	return func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			shutdownCtx := context.WithoutCancel(ctx)
			_ = s.Shutdown(shutdownCtx)
		case <-r.drainCh:
		case err := <-errc:
			if !s.isStopping(r) {
				return s.serveFailed(err)
			}
		}
		<-r.stopped
		return nil
	}, nil
}

// serveFailed closes the server, one of whose listeners failed with err
// while it was not stopping, and returns the error that says so.
func (s *Server) serveFailed(err error) error {
	err = fmt.Errorf("graceful: serve %s: %w", s.describe(), err)
	s.logger.Error("serving failed; closing the server", "address", s.describe(), "error", err)
	_ = s.Close(context.Background())
	return err
}

func (s *Server) isStopping(r *round) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.stopping
}

// infoLevel is the level of the server's routine lines.
func (s *Server) infoLevel() slog.Level {
	if s.quiet {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// GetAddress returns the address the server was created with.
func (s *Server) GetAddress() string {
	return s.address
}

// GetListenedAddress returns the address the server really listens on,
// with a ":0" port resolved to the port the system picked, in the syntax
// [New] accepts. With several listeners it returns them joined by commas;
// before a listener exists it returns the empty string.
func (s *Server) GetListenedAddress() string {
	if l := s.label.Load(); l != nil {
		return *l
	}
	return ""
}

// GetListenedPort returns the TCP port the server listens on, or -1 when
// it is not listening on exactly one TCP port.
func (s *Server) GetListenedPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rd.raw) != 1 {
		return -1
	}
	if a, ok := s.rd.raw[0].Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return -1
}

// IsHttps reports whether the server serves HTTPS: true after
// [Server.CreateListenerTLS], or after SetIsHttps(true).
func (s *Server) IsHttps() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.https
}

// SetIsHttps marks the server as serving HTTPS, for servers whose
// listeners in [ServerConfig.Listeners] already speak TLS. It changes
// what IsHttps reports and what the logs say; it does not add TLS.
func (s *Server) SetIsHttps(https bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.https = https
}

// Status reports whether the server is running: from the moment Serve
// accepts until a shutdown has finished draining.
func (s *Server) Status() ServerStatus {
	s.mu.Lock()
	r := s.rd
	s.mu.Unlock()
	return ServerStatus(r.status.Load())
}

// describe names the server in errors and logs: by the address it
// listens on once it does (":0" resolved), else as it was configured.
func (s *Server) describe() string {
	if l := s.label.Load(); l != nil {
		return *l
	}
	if s.address != "" {
		return s.address
	}
	if s.fd > 0 {
		return fmt.Sprintf("fd %d", s.fd)
	}
	return "(configured listeners)"
}
