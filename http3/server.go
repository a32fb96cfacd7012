package http3

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gracekit/gracekit/graceful"
	"github.com/quic-go/quic-go"
	qhttp3 "github.com/quic-go/quic-go/http3"
)

// HTTP/3 error codes (RFC 9114 section 8.1) the Server closes with.
const (
	codeNoError       = 0x100
	codeInternalError = 0x102
)

// Defaults of Config.
const (
	DefaultGracefulShutdownTimeout = graceful.DefaultGracefulShutdownTimeout
	DefaultIdleDrainGrace          = graceful.DefaultIdleDrainGrace
)

// Config configures a Server.
type Config struct {
	// Handler answers the requests; nil means http.DefaultServeMux.
	Handler http.Handler

	// TLSConfig carries the certificate (Certificates, GetCertificate or
	// GetConfigForClient). It is required. The Server works on a clone:
	// it sets NextProtos to "h3", MinVersion to TLS 1.3, and the session
	// ticket keys to a key every generation shares, so that a client
	// resumes its session (and sends 0-RTT data) across restarts.
	TLSConfig *tls.Config

	// QUICConfig holds the QUIC settings; nil means quic-go's defaults
	// with 0-RTT allowed.
	QUICConfig *quic.Config

	// GracefulShutdownTimeout bounds a drain: past it, the connections
	// still open are closed and the requests on them are cut (and
	// counted in Stats.RequestsLost). Zero means
	// DefaultGracefulShutdownTimeout; negative means no limit.
	GracefulShutdownTimeout time.Duration

	// IdleDrainGrace is how long, once a drain has begun (and its
	// handshake is complete), a connection with no request in progress
	// may send one more request before it is told to go away; a
	// connection that was told and has finished its requests is closed
	// once it has been quiet for four times as long (see Server). Zero
	// means DefaultIdleDrainGrace.
	IdleDrainGrace time.Duration

	// IdleTimeout closes a connection that has had no request for that
	// long; zero means none (QUIC's own idle timeout still applies).
	IdleTimeout time.Duration

	// MaxHeaderBytes bounds a request's header section; zero means
	// net/http's default of 1 MiB.
	MaxHeaderBytes int

	// Logger receives the Server's log lines; nil means slog.Default.
	Logger *slog.Logger
}

// A Server serves HTTP/3 on a UDP socket of a [graceful.Process] and
// restarts with it without losing a connection. It is a
// [graceful.Service] (register it with [graceful.Process.Add]), a
// [graceful.StoppingService] and a [graceful.ResumableService].
//
// The UDP socket is handed to every new generation, which reads it; a
// packet of a connection an older generation still drains is forwarded to
// that generation, which answers it itself (see the package
// documentation). New connections go to the newest generation.
//
// Shutdown drains: each connection is told to go away (an HTTP/3
// GOAWAY) while it has a request in progress, or after IdleDrainGrace
// without one once its handshake is complete; every request the Server
// has accepted is answered; a connection whose requests are done is
// closed if the client has not closed it and the connection has been
// quiet (nothing sent or received) for four IdleDrainGrace, at least two
// seconds and three probe timeouts. Shutdown returns when every connection
// is closed, or cuts what is left when GracefulShutdownTimeout or its
// context ends.
type Server struct {
	p       *graceful.Process
	address string
	name    string
	cfg     Config
	logger  *slog.Logger
	tlsConf *tls.Config
	quic    *quic.Config
	mark    *marker
	reset   quic.StatelessResetKey
	token   quic.TokenGeneratorKey

	ownFile *os.File  // this generation's end of its socket pair
	olders  []*older0 // what the older generations passed on
	stats   counters

	mu         sync.Mutex
	rolledBack bool           // Resume was called: no newer generation lives
	udp        net.PacketConn // for the next endpoint, if taken already
	ep         *endpoint
	cur        *round // the serving round; nil once Shutdown began
	last       *round // the newest round
}

// older0 is an older generation's file, kept for the endpoints to come.
type older0 struct {
	gen  int
	pid  int
	file *os.File
}

// New returns a Server for the UDP address ("host:port"), whose socket
// comes from p.ListenPacket: inherited from the previous generation or
// bound now. Call it before p.Run, then p.Add the Server.
func New(p *graceful.Process, address string, cfg Config) (*Server, error) {
	if p == nil {
		return nil, errors.New("http3: New needs a Process")
	}
	if cfg.TLSConfig == nil {
		return nil, errors.New("http3: Config.TLSConfig is required (it carries the certificate)")
	}
	if cfg.GracefulShutdownTimeout == 0 {
		cfg.GracefulShutdownTimeout = DefaultGracefulShutdownTimeout
	}
	if cfg.IdleDrainGrace <= 0 {
		cfg.IdleDrainGrace = DefaultIdleDrainGrace
	}
	if cfg.Handler == nil {
		cfg.Handler = http.DefaultServeMux
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	lin := lineageOf(p)
	s := &Server{p: p, address: address, name: "http3 " + address, cfg: cfg, logger: logger.With("service", "http3", "address", address)}

	secret, err := lin.Secret("gracekit/http3")
	if err != nil {
		return nil, fmt.Errorf("http3: the lineage's secret: %w", err)
	}
	if s.mark, err = newMarker(derive(secret, "connection id"), lin.Generation()); err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	s.reset = quic.StatelessResetKey(derive(secret, "stateless reset"))
	s.token = quic.TokenGeneratorKey(derive(secret, "address token"))
	s.tlsConf = cfg.TLSConfig.Clone()
	s.tlsConf.NextProtos = []string{qhttp3.NextProtoH3}
	s.tlsConf.MinVersion = tls.VersionTLS13
	s.tlsConf.SetSessionTicketKeys([][32]byte{derive(secret, "tls session ticket")})
	if cfg.QUICConfig != nil {
		s.quic = cfg.QUICConfig.Clone()
	} else {
		s.quic = &quic.Config{Allow0RTT: true}
	}

	if s.udp, err = p.ListenPacket("udp", address); err != nil {
		return nil, fmt.Errorf("http3: %w", err)
	}
	if u, ok := s.udp.(*net.UDPConn); ok {
		// Room for the packets that arrive while a generation takes
		// over; the kernel caps it at net.core.rmem_max.
		_ = u.SetReadBuffer(8 << 20)
		_ = u.SetWriteBuffer(8 << 20)
	}
	own, passed, err := newPair()
	if err == nil {
		err = lin.PassOn(s.name, passed)
		_ = passed.Close()
		if err != nil {
			_ = own.Close()
			return nil, errors.Join(fmt.Errorf("http3: pass the routing socket on: %w", err), s.udp.Close())
		}
		s.ownFile = own
		for _, f := range lin.Inherited(s.name) {
			s.olders = append(s.olders, &older0{gen: f.Generation, pid: f.PID, file: f.File})
		}
	} else {
		s.logger.Warn("packets are not routed between generations: connections are lost at a restart", "error", err)
	}
	return s, nil
}

// derive returns the key for one use of the lineage's secret.
func derive(secret [32]byte, use string) [32]byte {
	return sha256.Sum256(append(append(secret[:0:0], secret[:]...), "gracekit/http3 "+use...))
}

// Addr returns the UDP address the Server is bound to.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep != nil {
		return s.ep.r.udp.LocalAddr()
	}
	if s.udp != nil {
		return s.udp.LocalAddr()
	}
	return nil
}

// AltSvc returns the value of the Alt-Svc header that advertises the
// Server to clients of the HTTPS server on TCP: `h3=":PORT"; ma=86400`.
func (s *Server) AltSvc() string {
	port := 0
	if a, ok := s.Addr().(*net.UDPAddr); ok {
		port = a.Port
	}
	return `h3=":` + strconv.Itoa(port) + `"; ma=86400`
}

// AltSvcHandler returns a handler that adds the Alt-Svc header to every
// answer of next; wrap the HTTPS server's handler with it.
func (s *Server) AltSvcHandler(next http.Handler) http.Handler {
	value := s.AltSvc()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 {
			w.Header().Set("Alt-Svc", value)
		}
		next.ServeHTTP(w, r)
	})
}

// Serve serves until Shutdown, and returns graceful.ErrServerClosed once
// the drain is over (or at once).
func (s *Server) Serve(context.Context) error {
	s.mu.Lock()
	if s.cur == nil && s.last != nil {
		s.mu.Unlock()
		return graceful.ErrServerClosed
	}
	if s.ep == nil {
		if err := s.openLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	rd := s.cur
	if rd == nil {
		rd = s.newRoundLocked()
	}
	ep := s.ep
	newerGone := s.rolledBack
	s.mu.Unlock()
	ep.r.newerGone.Store(newerGone)
	ep.r.accepting.Store(true)
	ep.r.startUDP()
	s.logger.Info("serving HTTP/3", "generation", s.mark.gen, "older_generations", len(s.olders))
	<-rd.drained
	return graceful.ErrServerClosed
}

// openLocked opens the endpoint: the router on this generation's UDP
// descriptor and the socket pairs, the QUIC transport and its listener.
func (s *Server) openLocked() error {
	udp := s.udp
	s.udp = nil
	if udp == nil {
		var err error
		if udp, err = s.p.ListenPacket("udp", s.address); err != nil {
			return fmt.Errorf("http3: %w", err)
		}
	}
	var own link
	var olds []*older
	if s.ownFile != nil {
		var err error
		if own, err = newLink(s.ownFile); err != nil {
			_ = udp.Close()
			return fmt.Errorf("http3: %w", err)
		}
		for _, o := range s.olders {
			l, err := newLink(o.file)
			if err != nil {
				s.logger.Warn("cannot route to an older generation", "generation", o.gen, "pid", o.pid, "error", err)
				continue
			}
			olds = append(olds, &older{gen: uint32(o.gen), pid: o.pid, link: l})
		}
	}
	r := newRouter(s.mark, udp, own, olds, &s.stats)
	ep := &endpoint{r: r, acceptDone: make(chan struct{})}
	ep.tr = &quic.Transport{
		Conn:                  conn{r},
		ConnectionIDGenerator: s.mark,
		StatelessResetKey:     &s.reset,
		TokenGeneratorKey:     &s.token,
		ConnContext: func(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
			return s.connStarted(ctx, ep), nil
		},
	}
	ln, err := ep.tr.ListenEarly(s.tlsConf, s.quic)
	if err != nil {
		r.close()
		return fmt.Errorf("http3: listen: %w", err)
	}
	ep.ln = ln
	s.ep = ep
	go s.accept(ep)
	return nil
}

// endpoint is the QUIC side of a generation: it lives while a round
// serves or drains.
type endpoint struct {
	r          *router
	tr         *quic.Transport
	ln         *quic.EarlyListener
	acceptDone chan struct{}
	// handshakes counts the connections begun and not yet accepted (a
	// ClientHello not yet complete, say): the endpoint outlives them.
	// Guarded by Server.mu.
	handshakes int
}

// begun is the state of a connection of ep from its first packet:
// handshaking, accepted (a Server's h3conn), or gone before it was
// accepted.
type begun struct {
	ep    *endpoint
	state int
}

const (
	begunHandshaking = iota
	begunAccepted
	begunGone
)

type begunKey struct{}

// connStarted is quic.Transport.ConnContext: it counts a connection from
// its first packet until it is accepted or fails.
func (s *Server) connStarted(ctx context.Context, ep *endpoint) context.Context {
	b := &begun{ep: ep}
	s.mu.Lock()
	ep.handshakes++
	if s.last != nil {
		s.last.stopQuietLocked()
	}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if b.state != begunHandshaking {
			return
		}
		b.state = begunGone
		ep.handshakes--
		if s.last != nil && s.ep == ep {
			s.settleLocked(s.last)
		}
	})
	return context.WithValue(ctx, begunKey{}, b)
}

func (ep *endpoint) close() {
	_ = ep.ln.Close()
	<-ep.acceptDone
	_ = ep.tr.Close()
	ep.r.close()
}

// round is one period of serving, from Serve (or Resume) to the end of
// its drain.
type round struct {
	conns    map[*h3conn]struct{}
	draining bool
	drained  chan struct{}
	cut      bool        // the drain timed out
	quiet    *time.Timer // runs while the drained round waits to end
}

func (rd *round) stopQuietLocked() {
	if rd.quiet != nil {
		rd.quiet.Stop()
		rd.quiet = nil
	}
}

func (s *Server) newRoundLocked() *round {
	rd := &round{conns: map[*h3conn]struct{}{}, drained: make(chan struct{})}
	s.cur, s.last = rd, rd
	return rd
}

func (s *Server) accept(ep *endpoint) {
	defer close(ep.acceptDone)
	for {
		qc, err := ep.ln.Accept(context.Background())
		if err != nil {
			return
		}
		s.track(qc)
	}
}

// h3conn is one HTTP/3 connection.
type h3conn struct {
	s  *Server
	qc *quic.Conn
	hs *qhttp3.Server
	rd *round

	mu       sync.Mutex
	active   int
	goaway   bool
	goawayAt time.Time
	closeTmr *time.Timer
	done     bool
}

// goAwayLead is how long an answer that completes after the GOAWAY is
// held back, at least: the GOAWAY travels on the control stream and the
// answer on the request's stream, and a client that reads them in
// parallel (quic-go's does) could otherwise see the answer first and
// send its next request on this connection, where it would be turned
// away.
const goAwayLead = 50 * time.Millisecond

// maxGoAwayLead bounds the lead of a slow path (three round trips).
const maxGoAwayLead = time.Second

func (s *Server) track(qc *quic.Conn) {
	st := qc.ConnectionState()
	s.stats.connections.Add(1)
	if st.TLS.DidResume {
		s.stats.resumed.Add(1)
	} else {
		s.stats.fullHandshakes.Add(1)
	}
	if st.Used0RTT {
		s.stats.used0RTT.Add(1)
	}
	c := &h3conn{s: s, qc: qc}
	c.hs = &qhttp3.Server{
		Handler:        http.HandlerFunc(c.serveHTTP),
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		Logger:         s.logger,
	}
	s.mu.Lock()
	if b, ok := qc.Context().Value(begunKey{}).(*begun); ok && b.state == begunHandshaking {
		b.state = begunAccepted
		b.ep.handshakes--
	}
	rd := s.cur
	if rd == nil {
		rd = s.last // a handshake that began before the drain
	}
	c.rd = rd
	rd.conns[c] = struct{}{}
	rd.stopQuietLocked()
	draining := rd.draining
	s.mu.Unlock()
	if draining {
		c.drain()
	}
	go func() {
		_ = c.hs.ServeQUICConn(qc)
		c.finished()
	}()
}

func (c *h3conn) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.active++
	c.mu.Unlock()
	c.s.mu.Lock()
	draining := c.rd.draining
	c.s.mu.Unlock()
	if draining {
		// The client sent this request before it heard of the drain:
		// it is answered, and the connection told to go away while the
		// client still waits for the answer.
		c.goAway()
	}
	defer c.requestDone()
	c.s.cfg.Handler.ServeHTTP(w, r)
	c.leadAnswer(r.Context())
}

// leadAnswer holds the end of an answer back until the connection's
// GOAWAY, if one was sent, has had goAwayLead (or three round trips, at
// most maxGoAwayLead) to reach the client ahead of it. A small answer is sent when the handler
// returns, and a streamed one ends then.
func (c *h3conn) leadAnswer(ctx context.Context) {
	c.mu.Lock()
	at := c.goawayAt
	c.mu.Unlock()
	if at.IsZero() {
		return
	}
	lead := min(max(goAwayLead, 3*c.qc.ConnectionStats().SmoothedRTT), maxGoAwayLead)
	d := time.Until(at.Add(lead))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *h3conn) requestDone() {
	c.mu.Lock()
	c.active--
	idle := c.active == 0 && c.goaway
	c.mu.Unlock()
	if idle {
		c.closeLater()
	}
}

// drain starts the drain of a connection: told to go away now if a
// request is in progress, else once it has been idle for IdleDrainGrace
// after its handshake, unless a request comes first. A connection still
// in its handshake could not send its request yet: a GOAWAY now would
// turn it away.
func (c *h3conn) drain() {
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if active > 0 {
		c.goAway()
		return
	}
	gone := c.qc.Context().Done()
	go func() {
		select {
		case <-c.qc.HandshakeComplete():
		case <-gone:
			return
		}
		t := time.NewTimer(c.s.cfg.IdleDrainGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-gone:
			return
		}
		c.mu.Lock()
		idle := c.active == 0 && !c.goaway
		c.mu.Unlock()
		if idle {
			c.goAway()
			c.closeLater()
		}
	}()
}

// goAway sends the connection's GOAWAY frame.
func (c *h3conn) goAway() {
	c.mu.Lock()
	if c.goaway {
		c.mu.Unlock()
		return
	}
	c.goaway = true
	c.goawayAt = time.Now()
	c.mu.Unlock()
	// Shutdown sends the GOAWAY at once, then waits until the
	// connection is closed.
	go func() { _ = c.hs.Shutdown(context.Background()) }()
}

// closeLater closes a connection that was told to go away, unless the
// client closes it first, as it should: once no request is in progress
// and no packet has been sent or received for quietClose. The end of an
// answer may still be on its way when its handler has returned (sent but
// not yet acknowledged, or lost and to be sent again): while it is, the
// connection is not quiet.
func (c *h3conn) closeLater() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeTmr != nil || c.done {
		return
	}
	step := c.s.cfg.IdleDrainGrace
	last, since := c.traffic(), time.Now()
	var check func()
	check = func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.done {
			return
		}
		if now := c.traffic(); now != last || c.active > 0 {
			last, since = now, time.Now()
		}
		if time.Since(since) < c.quietClose() {
			c.closeTmr = time.AfterFunc(step, check)
			return
		}
		go func() { _ = c.qc.CloseWithError(codeNoError, "") }()
	}
	c.closeTmr = time.AfterFunc(step, check)
}

// traffic is what the connection has sent and received so far.
func (c *h3conn) traffic() [2]uint64 {
	st := c.qc.ConnectionStats()
	return [2]uint64{st.BytesSent, st.BytesReceived}
}

// quietClose is how long a connection told to go away, with no request
// in progress, must have sent and received nothing before the Server
// closes it: four idle graces, at least two seconds, and at least three
// of its probe timeouts (RFC 9002 section 6.2.1), so that an answer whose
// packets were lost is sent again first.
func (c *h3conn) quietClose() time.Duration {
	st := c.qc.ConnectionStats()
	pto := st.SmoothedRTT + max(4*st.MeanDeviation, time.Millisecond) + 25*time.Millisecond
	return max(4*c.s.cfg.IdleDrainGrace, 2*time.Second, 3*pto)
}

// finished is called once the connection is closed.
func (c *h3conn) finished() {
	c.mu.Lock()
	c.done = true
	if c.closeTmr != nil {
		c.closeTmr.Stop()
	}
	c.mu.Unlock()
	s := c.s
	s.mu.Lock()
	rd := c.rd
	delete(rd.conns, c)
	if rd.draining && !rd.cut {
		s.stats.drained.Add(1)
	}
	s.settleLocked(rd)
	s.mu.Unlock()
}

// settledLocked reports whether a draining round has nothing left: no
// connection, and (the newest round, whose endpoint takes every new
// connection) no handshake in progress.
func (s *Server) settledLocked(rd *round) bool {
	return rd.draining && len(rd.conns) == 0 && (rd != s.last || s.ep == nil || s.ep.handshakes == 0)
}

// settleLocked ends a settled round after IdleDrainGrace without a new
// connection: a packet read just before the drain began may still be on
// its way to the QUIC transport and start one.
func (s *Server) settleLocked(rd *round) {
	if !s.settledLocked(rd) {
		rd.stopQuietLocked()
		return
	}
	if rd.quiet != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(s.cfg.IdleDrainGrace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if rd.quiet != t || !s.settledLocked(rd) {
			return
		}
		rd.quiet = nil
		s.endRoundLocked(rd)
	})
	rd.quiet = t
}

// endRoundLocked closes the round; the endpoint closes with the last
// round.
func (s *Server) endRoundLocked(rd *round) {
	select {
	case <-rd.drained:
		return
	default:
	}
	close(rd.drained)
	if s.cur == nil && s.last == rd && s.ep != nil {
		ep := s.ep
		s.ep = nil
		go ep.close()
	}
}

// Stopping implements graceful.StoppingService. The Server serves on
// until Shutdown.
func (s *Server) Stopping() {}

// Shutdown drains the connections of this generation (see Server). On a
// restart the newest generation reads the socket from then on and
// forwards the packets of these connections here; on a final stop this
// generation reads on until its connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	rd := s.cur
	ep := s.ep
	if rd == nil || ep == nil {
		s.mu.Unlock()
		return nil
	}
	s.cur = nil
	rd.draining = true
	conns := make([]*h3conn, 0, len(rd.conns))
	for c := range rd.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	ep.r.accepting.Store(false)
	if handingOver(ctx) {
		s.mu.Lock()
		s.rolledBack = false
		s.mu.Unlock()
		ep.r.newerGone.Store(false)
		ep.r.stopUDP()
	}
	begin := time.Now()
	s.logger.Info("draining HTTP/3", "connections", len(conns), "handing_over", handingOver(ctx))
	for _, c := range conns {
		c.drain()
	}
	s.mu.Lock()
	s.settleLocked(rd)
	s.mu.Unlock()

	var timeout <-chan time.Time
	if d := s.cfg.GracefulShutdownTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-rd.drained:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
		err = fmt.Errorf("http3: drain of %s: %w", s.address, context.DeadlineExceeded)
	}
	if err != nil {
		s.cut(rd)
		<-rd.drained
	}
	st := s.Stats()
	s.logger.Info("HTTP/3 drained", "took", time.Since(begin).Round(time.Millisecond),
		"connections_drained", st.ConnectionsDrained, "connections_lost", st.ConnectionsLost,
		"packets_forwarded", st.PacketsForwarded, "packets_passed_up", st.PacketsPassedUp)
	return err
}

// cut closes the connections of a round whose drain ran out of time.
func (s *Server) cut(rd *round) {
	s.mu.Lock()
	rd.cut = true
	conns := make([]*h3conn, 0, len(rd.conns))
	for c := range rd.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		active := c.active
		c.mu.Unlock()
		code := quic.ApplicationErrorCode(codeNoError)
		if active > 0 {
			code = codeInternalError
			s.stats.lost.Add(1)
			s.stats.requestsLost.Add(uint64(active))
		}
		_ = c.qc.CloseWithError(code, "drain timed out")
	}
	s.mu.Lock()
	s.endRoundLocked(rd)
	s.mu.Unlock()
}

// Resume implements graceful.ResumableService: after a rollback the
// Server takes new connections again and reads the UDP socket; the
// connections of the interrupted drain drain on.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return nil
	}
	// The newer generations have died: the connections they made are
	// lost, and their packets, read here now, get a stateless reset
	// rather than silence.
	s.rolledBack = true
	if s.ep != nil {
		// The drain goes on: its round ends on its own; new connections
		// join the new round.
		s.newRoundLocked()
		s.logger.Warn("rolled back: taking new HTTP/3 connections again")
		return nil
	}
	s.last = nil // Serve opens a new endpoint and round
	return nil
}
