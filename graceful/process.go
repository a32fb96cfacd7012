package graceful

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a restart can end with, besides the child's own failure.
var (
	// ErrRestartInProgress: a restart was asked for while another one was
	// under way. Restarts never overlap: a restart signal that arrives
	// meanwhile runs after the one under way; a call gets this error.
	ErrRestartInProgress = errors.New("graceful: a restart is already in progress")

	// ErrNotRunning: Restart was called before Run, after the process
	// stopped serving, or on a generation that has handed over.
	ErrNotRunning = errors.New("graceful: the process is not running")

	// ErrTooManyGenerations: a restart would leave more generations alive
	// than ProcessConfig.MaxGenerations allows.
	ErrTooManyGenerations = errors.New("graceful: too many generations alive")

	// ErrRestartNotSupported: this platform cannot pass listening sockets
	// to a new process (Windows).
	ErrRestartNotSupported = errors.New("graceful: restart is not supported on this platform")
)

// Role is the part a process plays in its service.
type Role string

const (
	// RoleProcess: a process that serves and, in re-exec mode, restarts
	// by starting its successor.
	RoleProcess Role = "process"
	// RoleWorker: a worker of a supervisor (supervisor mode); it serves,
	// and its supervisor restarts it.
	RoleWorker Role = "worker"
	// RoleSupervisor: the first process in supervisor mode. It holds the
	// sockets and runs workers, and never returns from NewProcess to the
	// program: it runs none of the program's start-up code.
	RoleSupervisor Role = "supervisor"
)

// Process runs the servers and services of one generation of a service
// and handles its lifecycle: stop signals, zero-downtime restarts, the PID
// file, systemd notifications and health endpoints.
//
// A restart starts a new process of the binary (same arguments,
// environment and working directory) that inherits every socket. The old
// process keeps serving until the new one reports ready; only then does it
// stop accepting and drain. A new generation that fails to start (a bad
// binary, an invalid config file, a crash, a hang past
// [ProcessConfig.UpgradeTimeout]) is stopped and reaped, the reason is
// logged with the tail of its standard error, and the old process goes on
// serving as if nothing happened. One that dies or stops answering within
// [ProcessConfig.Probation] after taking over is rolled back from: the old
// generation, which kept the sockets, serves again.
//
// Use it in main:
//
//	p, err := graceful.NewProcess(procCfg)   // early: restart signals are caught from here on
//	srv, err := p.NewServer(":8080", srvCfg) // an HTTP server, its socket inherited across restarts
//	ln, err := p.Listen("tcp", ":9090")      // any other socket, for a gRPC or TCP service
//	p.Add(myService)                         // served and drained with the servers
//	err = p.Run(ctx)                         // returns once this generation is done
//
// Everything between NewProcess and Run is the generation's start-up: a
// new generation that fails there never replaces the old one. In
// supervisor mode, NewProcess does not return in the first process (see
// [RoleSupervisor]): the start-up code runs in the workers only.
type Process struct {
	cfg    ProcessConfig
	logger *slog.Logger
	sys    system

	pid        int
	exe, dir   string
	args       []string
	role       Role
	generation int
	ancestors  []ancestor // older generations that may still drain, the parent last
	attrs      []any      // pid, role, generation: on every log line
	totals     *totals
	lineage    *lineage

	// parent is the link to the process that started this one (nil in a
	// first generation); parentMsgs delivers its messages and parentGone
	// is closed when it is gone.
	parent     *link
	parentMsgs chan linkMsg
	parentGone chan struct{}
	stderr     *stderrSwitch

	sigCh    chan os.Signal
	requests chan restartRequest
	loopDone chan struct{} // closed once Run no longer takes Restart calls
	stopping atomic.Bool   // this process no longer serves: it stops, or handed over
	// stopRequested: the service stops (a stop of the generation that
	// serves); readiness answers 503 from then on.
	stopRequested atomic.Bool
	// finalStop: a worker's supervisor said the service stops (see
	// msgStop).
	finalStop atomic.Bool
	stopBegan time.Time // when the final stop's drain began
	// resumed is the state a supervisor's previous image left.
	resumed *supervisorState
	// image identifies the binary a supervisor runs.
	image fileID
	// lastRestart is the duration of the last successful restart, in
	// nanoseconds; alive, in a worker, the number of workers its
	// supervisor last reported.
	lastRestart atomic.Int64
	alive       atomic.Int64

	mu      sync.Mutex
	socks   sockets
	units   []*unit
	running bool
	done    bool
}

// unit is one thing a generation serves: a server made by NewServer
// (rebuilt when the generation resumes after a rollback) or a service
// given to Add.
type unit struct {
	svc Service
	// For a server made by NewServer:
	srv     *Server
	address string
	cfg     ServerConfig
	sock    *socket
}

// NewProcess prepares the lifecycle of this process. Call it early in
// main, before loading anything slow: from here on the restart signal no
// longer has its default effect (SIGHUP would kill the process).
//
// When the process was started by a restart, NewProcess takes over the
// sockets its parent handed over (and removes the handover variables from
// the environment); in a first generation it takes the sockets systemd
// passed (socket activation, or its file-descriptor store). Either way
// [Process.NewServer], [Process.Listen] and [Process.ListenPacket] find
// them by address.
//
// In supervisor mode ([RestartModeSupervisor]), the first process becomes
// the supervisor inside NewProcess and exits when the service ends: 0 if
// its worker ended with status 0, 1 otherwise. NewProcess returns only in
// the workers, where [Process.Role] is RoleWorker.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	p, err := newProcess(cfg, osSystem{})
	if err != nil {
		return nil, err
	}
	if p.role == RoleSupervisor {
		p.sys.exit(p.supervise(context.Background()))
	}
	return p, nil
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
	if cfg.Probation < 0 {
		return nil, fmt.Errorf("graceful: Probation is %s; it is 0 (off) or more", cfg.Probation)
	}
	p := &Process{
		cfg:        cfg,
		logger:     cfg.Logger,
		sys:        sys,
		pid:        os.Getpid(),
		args:       os.Args,
		role:       RoleProcess,
		generation: 1,
		sigCh:      make(chan os.Signal, 16),
		requests:   make(chan restartRequest),
		loopDone:   make(chan struct{}),
		parentGone: make(chan struct{}),
		lineage:    newLineage(),
	}
	// Catch the restart signal at once, then stop the early catching: a
	// restart signal must never kill a process that is still starting.
	// The other signals a restart may be configured with are caught too,
	// and ignored (see lifecycle.restart): an operator may still send the
	// one an earlier configuration named, and its default action ends the
	// process.
	sys.notifySignals(p.sigCh, restartSignalCandidates()...)
	early := sys.earlySignals()
	// A log line written to a standard error whose reader is gone (a log
	// shipper that died, `2>&1 | logger`) must not end the service: Go
	// ends a program on such a write unless SIGPIPE is caught, and caught,
	// the write fails with EPIPE. Nothing reads the channel.
	sys.notifySignals(make(chan os.Signal, 1), pipeSignals...)

	var err error
	if p.dir, err = os.Getwd(); err != nil {
		sys.stopSignals(p.sigCh)
		return nil, fmt.Errorf("graceful: working directory: %w", err)
	}
	if p.exe, err = resolveExecutable(cfg.Executable, p.dir, p.args); err != nil {
		sys.stopSignals(p.sigCh)
		return nil, err
	}
	if err := p.inherit(); err != nil {
		sys.stopSignals(p.sigCh)
		return nil, err
	}
	if p.role == RoleProcess && cfg.Mode == RestartModeSupervisor && p.parent == nil && p.resumed == nil {
		if runtime.GOOS == "windows" {
			p.logger.Warn("supervisor mode needs Unix descriptor passing: running as a plain process")
		} else {
			p.role = RoleSupervisor
		}
	}
	attrs := []any{"pid", p.pid, "role", string(p.role)}
	if p.role != RoleSupervisor {
		attrs = append(attrs, "generation", p.generation)
		// This process serves what it inherited: their listeners are
		// made ahead (a supervisor only holds them for its workers).
		prepareListeners(p.socks.inherited)
	}
	p.attrs = attrs
	p.logger = p.logger.With(attrs...)
	for _, sig := range early {
		if p.resumed != nil {
			// The supervisor's next image: a restart asked for during its
			// exec is the service's, and runs.
			p.resumed.Signals = append(p.resumed.Signals, signalName(sig))
			continue
		}
		p.logger.Warn("restart signal received while the process was starting: ignored", "signal", sig)
	}
	return p, nil
}

// inherit takes what the process was handed: the parent's handover when
// there is one, else the sockets systemd passed.
func (p *Process) inherit() error {
	raw, ok := p.sys.lookupEnv(HandoverEnv)
	if !ok {
		socks, err := p.sys.activationSockets(p.logger)
		if err != nil {
			return fmt.Errorf("graceful: sockets passed by systemd: %w", err)
		}
		p.socks.inherited = socks
		p.totals = newTotals(nil)
		close(p.parentGone)
		return nil
	}
	// Read once, then hide it from the app's own subprocesses.
	_ = p.sys.unsetenv(HandoverEnv)
	h, err := parseHandover(raw)
	if err != nil {
		return fmt.Errorf("graceful: %w", err)
	}
	if h.Role == roleNameSupervisor {
		st, err := readSupervisorState(h.StateFd)
		if err != nil {
			return fmt.Errorf("graceful: %s: %w", HandoverEnv, err)
		}
		p.role = RoleSupervisor
		p.resumed = &st
		p.totals = newTotals(st.Totals)
		close(p.parentGone)
		return nil
	}
	l, socks, err := p.sys.inherit(h, p.logger)
	if err != nil {
		return fmt.Errorf("graceful: %w", err)
	}
	from := "parent"
	p.role = RoleProcess
	if h.Role == roleNameWorker {
		p.role = RoleWorker
		from = "supervisor"
		p.alive.Store(1)
	}
	for _, s := range socks {
		s.from = from
	}
	p.generation = h.Generation
	p.ancestors = h.Ancestors
	p.totals = newTotals(h.Totals)
	if p.role == RoleProcess {
		// This generation is the outcome of a successful restart.
		p.totals.add(totalRestartsSucceeded, 1)
	}
	p.socks.inherited = socks
	p.parent = l
	// The first message is the state: the service's secret and the
	// files older generations pass on. A parent that died before it
	// sent it leaves this process to go on alone, with a secret of its
	// own. The parent sends it before it starts this process, so it is
	// there at once: a link on which nothing comes (a handover
	// description that names some other socket) is an error once the
	// upgrade timeout is over, when a parent would have given up on this
	// process.
	m, fds, err := l.recvWithin(p.cfg.UpgradeTimeout)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		l.close()
		for _, s := range socks {
			s.close()
		}
		return fmt.Errorf("graceful: %s names a link on which no state came within the upgrade timeout (%s): it is not a link to the previous generation", HandoverEnv, p.cfg.UpgradeTimeout)
	}
	if err == nil && m.Type == msgState && m.PID != p.pid {
		closeAll(fds)
		l.close()
		for _, s := range socks {
			s.close()
		}
		return fmt.Errorf("graceful: the previous generation started PID %d, and this process is PID %d: a wrapper (a shell script, say) started it without exec; make the wrapper run the program with exec, so that the process the previous generation starts is the one that serves", m.PID, p.pid)
	}
	if err == nil && m.Type == msgState {
		p.lineage.takeState(m, fds)
		p.takeTotals(m)
	} else if err == nil {
		for _, fd := range fds {
			closeFd(fd)
		}
		p.logger.Warn("the parent sent no state first; going on without it", "message", m.Type)
	}
	var lines []*lifeline
	for _, a := range h.Ancestors {
		if a.Lifeline >= 0 {
			lines = append(lines, &lifeline{pid: a.PID, generation: a.Generation, fd: a.Lifeline, gone: make(chan struct{}), limit: max(a.DrainLimit, 0)})
		}
	}
	p.lineage.watchAncestors(lines)
	p.parentMsgs = make(chan linkMsg, 16)
	p.stderr = p.sys.stderrSwitch(h)
	go p.watchParent()
	return nil
}

// watchParent reads the parent's messages. When the parent is gone (it
// may be killed at any moment of a restart), this process goes on alone:
// its standard error switches back from the parent's pipe at once.
func (p *Process) watchParent() {
	defer close(p.parentGone)
	defer close(p.parentMsgs)
	for {
		m, fds, err := p.parent.recv()
		for _, fd := range fds {
			closeFd(fd)
		}
		if err != nil {
			p.stderr.restore()
			return
		}
		if m.Type == msgPing {
			// Answered here, whatever the rest of the process does: the
			// parent asks whether this process runs at all.
			_ = p.parent.send(linkMsg{Type: msgPong, PID: p.pid, Seq: m.Seq})
			continue
		}
		p.parentMsgs <- m
	}
}

// resolveExecutable returns the absolute path of the binary a restart
// starts: the configured one; else the path the running binary was
// started by, its first argument (found in PATH, or made absolute), with
// the symlinks on that path kept, so that a deploy that points a symlink
// at a new binary is what the next restart runs; else, when that path
// does not name the running binary, the running binary's own path.
func resolveExecutable(configured, dir string, args []string) (string, error) {
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
	if len(args) == 0 || args[0] == "" {
		return exe, nil
	}
	startedAs := args[0]
	if strings.ContainsRune(startedAs, os.PathSeparator) {
		if !filepath.IsAbs(startedAs) {
			startedAs = filepath.Join(dir, startedAs)
		}
	} else if startedAs, err = exec.LookPath(startedAs); err != nil || !filepath.IsAbs(startedAs) {
		return exe, nil
	}
	a, errA := os.Stat(startedAs)
	b, errB := os.Stat(exe)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		return exe, nil
	}
	return filepath.Clean(startedAs), nil
}

// Generation returns the number of this generation: 1 for a process
// started by hand or by systemd, one more than its parent's for a process
// started by a restart; for a worker, its number among the workers of its
// supervisor.
func (p *Process) Generation() int {
	return p.generation
}

// Role returns the part this process plays: RoleProcess or RoleWorker
// (the supervisor never returns from NewProcess).
func (p *Process) Role() Role {
	return p.role
}

// startup checks that the process is still starting (before Run).
func (p *Process) startupLocked(what string) error {
	if p.running || p.done {
		return fmt.Errorf("graceful: %s must be called before Process.Run", what)
	}
	return nil
}

// Listen returns a listener on a stream socket of the process: network is
// "tcp", "tcp4", "tcp6" or "unix"; address is "host:port" or a socket
// path, or "systemd:NAME" for the socket systemd passed with
// FileDescriptorName=NAME. The socket inherited from the previous
// generation, a supervisor or systemd is used when there is one for the
// address (found by the exact address string the previous generation used,
// so that ":0" keeps its port across restarts, or by the address it is
// bound to); else a socket is bound now.
//
// The process keeps its own descriptor of the socket and hands it to the
// next generation; the returned listener has a descriptor of its own,
// which its user closes when it stops (a drain), while connections keep
// queueing on the socket for the successor. Call Listen before Run, and
// give the listener to a service registered with [Process.Add]. While
// Run runs, Listen returns a fresh listener on a socket the process
// already has for address (for [ResumableService.Resume]), and refuses
// any other address.
func (p *Process) Listen(network, address string) (net.Listener, error) {
	ep, err := parseNetworkAddress(network, address)
	if err != nil {
		return nil, fmt.Errorf("graceful: Listen: %w", err)
	}
	if ep.packet() {
		return nil, fmt.Errorf("graceful: Listen(%q, %q): %s is a datagram network: use ListenPacket", network, address, network)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := p.takeLocked("Listen", ep, socketPerm{})
	if err != nil {
		return nil, err
	}
	return s.listener()
}

// ListenPacket is [Process.Listen] for datagram sockets: network is
// "udp", "udp4", "udp6" or "unixgram". A datagram socket is handed over
// like a stream socket; datagrams that arrive while no generation reads
// wait in its receive buffer, up to its size.
func (p *Process) ListenPacket(network, address string) (net.PacketConn, error) {
	ep, err := parseNetworkAddress(network, address)
	if err != nil {
		return nil, fmt.Errorf("graceful: ListenPacket: %w", err)
	}
	if !ep.packet() {
		return nil, fmt.Errorf("graceful: ListenPacket(%q, %q): %s is a stream network: use Listen", network, address, network)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := p.takeLocked("ListenPacket", ep, socketPerm{})
	if err != nil {
		return nil, err
	}
	return s.packetConn()
}

func (p *Process) takeLocked(what string, ep endpoint, perm socketPerm) (*socket, error) {
	if p.running && !p.done && what != "NewServer" {
		// A service resuming after a rollback takes a fresh listener on
		// a socket this generation already owns; no new socket is bound
		// once Run started.
		if s := p.socks.ownedSocket(ep); s != nil {
			return s, nil
		}
	}
	if err := p.startupLocked(what); err != nil {
		return nil, err
	}
	if err := perm.check(); err != nil {
		return nil, fmt.Errorf("graceful: %s: %w", ep, err)
	}
	s, err := p.socks.take(ep, perm, false)
	if err != nil {
		return nil, fmt.Errorf("graceful: %s: %w", ep, err)
	}
	if p.logger.Enabled(context.Background(), slog.LevelDebug) {
		p.logger.Debug("socket ready", "address", s.name, "bound", formatAddr(s.addr), "from", s.from)
	}
	return s, nil
}

// NewServer returns an HTTP server for address whose listener is ready: a
// socket inherited or bound as [Process.Listen] does. Call
// [Server.CreateListenerTLS] on the result to serve HTTPS on it.
//
// The Process serves the server from [Process.Run] and shuts it down with
// the process; the configured health paths are answered before cfg's
// handler sees the request. After a rollback (see
// [ProcessConfig.Probation]) the process serves the same *Server again, on
// the same address (the same socket, or one bound again if the successor
// had given that address up): the value returned here stays valid for the
// life of the process.
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
	s, err := p.takeLocked("NewServer", ep, cfg.socketPerm())
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = p.logger
	} else {
		// Every line from gracekit says which process wrote it.
		cfg.Logger = cfg.Logger.With(p.attrs...)
	}
	cfg.Handler = p.healthHandler(cfg.Handler)
	u := &unit{address: address, cfg: cfg, sock: s}
	srv, err := u.newServer(p.lineage)
	if err != nil {
		return nil, err
	}
	p.units = append(p.units, u)
	return srv, nil
}

// newServer makes the unit's server on a fresh listener of its socket.
// Its TLS session tickets are encrypted with keys of the service's
// lineage (see Process.Secret), so that a client resumes its session with
// any generation.
func (u *unit) newServer(l *lineage) (*Server, error) {
	ln, err := u.sock.listener()
	if err != nil {
		return nil, fmt.Errorf("graceful: %w", err)
	}
	cfg := u.cfg
	cfg.Listeners = []net.Listener{ln}
	srv := New(u.address, 0, cfg)
	srv.tickets = &ticketKeyer{l: l}
	srv.quiet = true
	srv.mu.Lock()
	srv.setListenersLocked([]net.Listener{ln})
	srv.mu.Unlock()
	u.srv, u.svc = srv, srv
	return srv, nil
}

// Add registers a service that Run serves and shuts down in step with the
// process's HTTP servers: the readiness endpoint, the shutdown delay, the
// handover on restart and the drain apply to it alike. Take its sockets
// from [Process.Listen] or [Process.ListenPacket]. Call Add before Run.
func (p *Process) Add(svc Service) error {
	if svc == nil {
		return errors.New("graceful: Process.Add: nil service")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.startupLocked("Add"); err != nil {
		return err
	}
	if s, ok := svc.(*Server); ok {
		for _, u := range p.units {
			if u.srv == s {
				return fmt.Errorf("graceful: server %s was made by NewServer: the process serves it already", s.describe())
			}
		}
	}
	p.units = append(p.units, &unit{svc: svc})
	return nil
}

// Restart starts the next generation, as the restart signal does, and
// returns its outcome: nil once the new generation is ready and this
// process has begun to drain (Run returns once the drain and the
// [ProcessConfig.Probation] are over, or goes on after a rollback), an
// error saying why otherwise, in which case this process goes on serving.
// Cancelling ctx abandons the restart. A restart requested while another
// is under way returns [ErrRestartInProgress]; one that would exceed
// [ProcessConfig.MaxGenerations] returns [ErrTooManyGenerations]; on a
// generation that has handed over, or is not running, Restart returns an
// error wrapping [ErrNotRunning] at once. In a worker, the supervisor
// performs the restart.
func (p *Process) Restart(ctx context.Context) error {
	p.mu.Lock()
	running := p.running && !p.done
	p.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	req := restartRequest{ctx: ctx, result: make(chan error, 1)}
	select {
	case p.requests <- req:
	case <-p.loopDone:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.result
}

// Stopping reports whether the process has stopped being ready: a
// shutdown was requested, or it handed over to a successor.
func (p *Process) Stopping() bool {
	return p.stopping.Load()
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

// ReadinessHandler answers for the service, not for the process whose
// connection the probe happens to use: 200 "ready", and 503 "shutting
// down" from the moment a stop of the service is requested (before the
// [ProcessConfig.ShutdownDelay]). A generation that has handed over to a
// successor, which serves, answers 200 on the connections it drains: a
// probe that reaches it during a restart finds the service ready, as it
// is. Mount it where your load balancer or Kubernetes readiness probe
// looks, or set [ProcessConfig.ReadinessPath].
func (p *Process) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if p.stopRequested.Load() {
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
