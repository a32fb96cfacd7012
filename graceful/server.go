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
	http    *http.Server
	handler http.Handler
	conns   *connTracker
	h2      *h2Set // the server's HTTP/2 connections

	mu          sync.Mutex
	raw         []net.Listener // listeners as bound or adopted, before TLS
	https       bool
	tlsConfig   *tls.Config // as CreateListenerTLS made it
	fdFile      *os.File    // the duplicate handed out by Fd, closed at the end
	unlinkPaths []string    // unix socket paths this server created
	serving     bool
	stopping    bool
	drain       *drainState

	label      atomic.Pointer[string] // the listened address, once known
	status     atomic.Int32
	draining   atomic.Bool
	inFlight   atomic.Int64
	requests   atomic.Uint64
	drainedReq atomic.Uint64

	drainCh chan struct{} // closed when a shutdown begins
	stopped chan struct{} // closed when the server has fully stopped
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
		conns:   newConnTracker(),
		drainCh: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	s.h2 = newH2Set(s.conns)
	base := context.WithValue(context.Background(), drainKey{}, s.drainCh)
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadTimeout:       config.ReadTimeout,
		ReadHeaderTimeout: config.ReadHeaderTimeout,
		WriteTimeout:      config.WriteTimeout,
		IdleTimeout:       config.IdleTimeout,
		MaxHeaderBytes:    config.MaxHeaderBytes,
		ConnState:         s.connState,
		ConnContext:       connContext,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	s.http.Protocols.SetHTTP1(true)
	s.http.SetKeepAlivesEnabled(config.KeepAlive)
	return s
}

// serveHTTP wraps the user's handler: it counts requests and gives
// requests over TLS their Request.TLS. (A draining server's
// "Connection: close" is added by the conn as the response's header is
// written, see conn.Write.)
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.requests.Add(1)
	if s.draining.Load() {
		s.drainedReq.Add(1)
	}
	if r.TLS == nil {
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
	case s.stopping:
		return ErrServerClosed
	case s.serving:
		return fmt.Errorf("graceful: server %s is already serving", s.describe())
	case s.tlsConfig != nil:
		return fmt.Errorf("graceful: server %s already serves HTTPS", s.describe())
	}
	if len(s.raw) == 0 {
		raw, err := s.openListeners()
		if err != nil {
			return err
		}
		s.setListenersLocked(raw)
	}
	if tlsConfig != nil {
		s.tlsConfig = tlsConfig
		s.https = true
	}
	return nil
}

// setListenersLocked installs the raw listeners and names the server by
// the address they really listen on, for logs and errors.
func (s *Server) setListenersLocked(raw []net.Listener) {
	s.raw = raw
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
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return fmt.Errorf("graceful: Serve called twice on server %s", s.describe())
	}
	if len(s.raw) == 0 {
		if err := s.createListenerLocked(nil); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.serving = true
	if s.https && (s.tlsConfig == nil || slices.Contains(s.tlsConfig.NextProtos, "h2")) {
		// HTTP/2 over the conn's own TLS (see conn.go).
		s.http.Protocols.SetUnencryptedHTTP2(true)
	}
	listeners := make([]net.Listener, len(s.raw))
	for i, ln := range s.raw {
		listeners[i] = &listener{Listener: ln, srv: s, tlsConfig: s.tlsConfig}
	}
	s.status.Store(int32(ServerStatusRunning))
	errc := make(chan error, len(listeners))
	for _, ln := range listeners {
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			errc <- s.http.Serve(ln)
		}()
	}
	s.mu.Unlock()

	s.logger.Info("serving", "address", s.GetListenedAddress(), "https", s.IsHttps())

	select {
	case <-ctx.Done():
		shutdownCtx := context.WithoutCancel(ctx)
		_ = s.Shutdown(shutdownCtx)
	case <-s.drainCh:
	case err := <-errc:
		if !s.isStopping() {
			err = fmt.Errorf("graceful: serve %s: %w", s.describe(), err)
			s.logger.Error("serving failed; closing the server", "address", s.describe(), "error", err)
			_ = s.Close(context.WithoutCancel(ctx))
			return err
		}
	}
	<-s.stopped
	return nil
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
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
	if len(s.raw) != 1 {
		return -1
	}
	if a, ok := s.raw[0].Addr().(*net.TCPAddr); ok {
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
	return ServerStatus(s.status.Load())
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
