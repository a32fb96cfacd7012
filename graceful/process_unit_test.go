//go:build unix

package graceful

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystem is an operating system for the lifecycle's unit tests:
// signals are delivered by the test, and a process it starts is a fake
// process behind the lowest seam (fork/exec, wait, kill) that speaks the
// real link protocol over the real socket pair, so that every message and
// descriptor a restart exchanges goes through the code that production
// runs; the servers are real, on loopback.
type fakeSystem struct {
	mu       sync.Mutex
	env      map[string]string
	subs     map[os.Signal][]chan<- os.Signal
	procs    []*fakeProc
	children chan *fakeProc
	notes    []string
	exited   chan int
	// inherited, when set, is what inherit returns (a worker's link to
	// a test playing its supervisor, its sockets).
	inheritLink  *link
	inheritSocks []*socket
	// beforeStart, when set, runs once when a start gathers what the
	// child gets (environ), after the files it passes are chosen.
	beforeStart func()
	// container is what containerParent says.
	container string
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{
		env:      map[string]string{},
		subs:     map[os.Signal][]chan<- os.Signal{},
		children: make(chan *fakeProc, 16),
		exited:   make(chan int, 1),
	}
}

func (f *fakeSystem) lookupEnv(k string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.env[k]
	return v, ok
}

func (f *fakeSystem) unsetenv(k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.env, k)
	return nil
}

func (f *fakeSystem) environ() []string {
	f.mu.Lock()
	hook := f.beforeStart
	f.beforeStart = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

// statOf describes the open file of descriptor fd, for sameFile.
func statOf(t *testing.T, fd int) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *fakeSystem) notifySignals(ch chan<- os.Signal, sigs ...os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range sigs {
		if !slices.Contains(f.subs[s], ch) {
			f.subs[s] = append(f.subs[s], ch)
		}
	}
}

func (f *fakeSystem) stopSignals(ch chan<- os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, chans := range f.subs {
		var keep []chan<- os.Signal
		for _, c := range chans {
			if c != ch {
				keep = append(keep, c)
			}
		}
		f.subs[s] = keep
	}
}

func (f *fakeSystem) earlySignals() []os.Signal { return nil }

func (f *fakeSystem) inherit(handover, *slog.Logger) (*link, []*socket, error) {
	if f.inheritLink == nil {
		return nil, nil, errors.New("the fake system hands nothing over")
	}
	return f.inheritLink, f.inheritSocks, nil
}

func (f *fakeSystem) activationSockets(*slog.Logger) ([]*socket, error) { return nil, nil }

func (f *fakeSystem) stderrSwitch(handover) *stderrSwitch { return nil }

// deliver sends sig to every subscriber, like the kernel would; a full
// channel drops it, as os/signal does.
func (f *fakeSystem) deliver(sig os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs[sig] {
		select {
		case ch <- sig:
		default:
		}
	}
}

func (f *fakeSystem) subscribed(sig os.Signal) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs[sig]) > 0
}

// forkExec starts a fake process with the descriptors the real one would
// get: it takes its own copies of its end of the link and of the pipe
// that is its standard error before the caller closes them.
func (f *fakeSystem) forkExec(exe string, args []string, attr *syscall.ProcAttr) (int, error) {
	var raw string
	for _, kv := range attr.Env {
		if v, ok := strings.CutPrefix(kv, HandoverEnv+"="); ok {
			raw = v
		}
	}
	h, err := parseHandover(raw)
	if err != nil {
		return 0, fmt.Errorf("fake exec: %w", err)
	}
	linkFd, err := dupFd(int(attr.Files[h.LinkFd]))
	if err != nil {
		return 0, err
	}
	errFd, err := dupFd(int(attr.Files[2]))
	if err != nil {
		closeFd(linkFd)
		return 0, err
	}
	l, err := openLink(linkFd)
	if err != nil {
		closeFd(errFd)
		return 0, err
	}
	var sockFds []int
	for _, s := range h.Sockets {
		fd, err := dupFd(int(attr.Files[s.Fd]))
		if err != nil {
			return 0, err
		}
		sockFds = append(sockFds, fd)
	}
	f.mu.Lock()
	fp := &fakeProc{
		sys: f, pidN: 100000 + len(f.procs) + 1, h: h, link: l, stderr: os.NewFile(uintptr(errFd), "fake stderr"),
		sockFds: sockFds, got: make(chan linkMsg, 64), exitCh: make(chan struct{}),
	}
	f.procs = append(f.procs, fp)
	f.mu.Unlock()
	// The parent sends the state once it knows the PID, as the real
	// process reads it once it runs.
	go func() {
		m, fds, err := l.recv()
		if err != nil || m.Type != msgState || m.PID != fp.pidN {
			fp.exit(fmt.Sprintf("fake process: the first message is %q for PID %d (%v), want the state for %d", m.Type, m.PID, err, fp.pidN))
			return
		}
		fp.state, fp.stateFds = m, fds
		go fp.readLink()
		f.children <- fp
	}()
	return fp.pidN, nil
}

func (f *fakeSystem) proc(pid int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.procs {
		if p.pidN == pid {
			return p
		}
	}
	return nil
}

func (f *fakeSystem) wait(pid int) string {
	p := f.proc(pid)
	<-p.exitCh
	return p.status
}

func (f *fakeSystem) kill(pid int, sig syscall.Signal) error {
	p := f.proc(pid)
	if p == nil {
		return syscall.ESRCH
	}
	p.mu.Lock()
	p.signals = append(p.signals, sig)
	ignoreTerm := p.ignoreTerm
	p.mu.Unlock()
	switch sig {
	case syscall.SIGKILL:
		p.exit("signal: killed")
	case syscall.SIGTERM:
		if !ignoreTerm {
			p.exit("signal: terminated")
		}
	case syscall.SIGSTOP:
		p.muted.Store(true)
	}
	return nil
}

func (f *fakeSystem) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.procs)
}

func (f *fakeSystem) sdNotify(state string, _ ...int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, state)
	return nil
}

func (f *fakeSystem) sdBarrier(time.Duration) error { return nil }

func (f *fakeSystem) lastNote() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.notes) == 0 {
		return ""
	}
	return f.notes[len(f.notes)-1]
}

func (f *fakeSystem) processAlive(int) bool { return false }

func (f *fakeSystem) exec(string, []string, []string) error {
	return errors.New("the fake system cannot replace the process")
}

func (f *fakeSystem) blockForExec(...os.Signal) func() { return func() {} }

func (f *fakeSystem) exit(code int) { f.exited <- code }

func (f *fakeSystem) parentIsSystemd() bool { return false }

func (f *fakeSystem) containerParent() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.container
}

// fakeProc is a process the fake system started: it reads its state from
// the link as a real one does, answers pings (unless stopped), and does
// what the test says: report ready, fail, exit.
type fakeProc struct {
	sys      *fakeSystem
	pidN     int
	h        handover
	link     *link
	stderr   *os.File
	sockFds  []int
	state    linkMsg
	stateFds []int
	got      chan linkMsg // what its parent sent after the state
	muted    atomic.Bool  // stopped: it answers no ping

	mu         sync.Mutex
	signals    []syscall.Signal
	ignoreTerm bool
	exitOnce   sync.Once
	exitCh     chan struct{}
	status     string
}

func (p *fakeProc) pid() int { return p.pidN }

func (p *fakeProc) readLink() {
	for {
		m, fds, err := p.link.recv()
		for _, fd := range fds {
			closeFd(fd)
		}
		if err != nil {
			return
		}
		if m.Type == msgPing {
			if !p.muted.Load() {
				_ = p.link.send(linkMsg{Type: msgPong, PID: p.pidN, Seq: m.Seq})
			}
			continue
		}
		select {
		case p.got <- m:
		default:
		}
	}
}

// ready reports ready as a re-exec generation does: it names the sockets
// it took (all it was given).
func (p *fakeProc) ready(t *testing.T) {
	t.Helper()
	var socks []handoverSocket
	for _, s := range p.h.Sockets {
		socks = append(socks, handoverSocket{Name: s.Name, Fd: -1})
	}
	p.send(t, linkMsg{Type: msgReady, PID: p.pidN, Sockets: socks})
	_ = p.stderr.Close() // a ready process writes to its own standard error
}

// readyTakingNone reports ready as a re-exec generation that serves none
// of the sockets it was given (the addresses changed): it closes them and
// names none.
func (p *fakeProc) readyTakingNone(t *testing.T) {
	t.Helper()
	for i, fd := range p.sockFds {
		closeFd(fd)
		p.sockFds[i] = -1
	}
	p.send(t, linkMsg{Type: msgReady, PID: p.pidN, Sockets: []handoverSocket{}})
	_ = p.stderr.Close()
}

// readyWorker reports ready as a worker does: it passes its sockets (all
// it was given but those named in drop, and the listeners in bound, as if
// it had bound them) and files.
func (p *fakeProc) readyWorker(t *testing.T, files map[string]*os.File, drop []string, bound ...net.Listener) {
	t.Helper()
	var socks []handoverSocket
	var fds []int
	for i, s := range p.h.Sockets {
		if slices.Contains(drop, s.Name) {
			// A worker closes an inherited socket it does not use.
			closeFd(p.sockFds[i])
			p.sockFds[i] = -1
			continue
		}
		socks = append(socks, handoverSocket{Name: s.Name, Fd: len(fds)})
		fds = append(fds, p.sockFds[i])
	}
	for _, ln := range bound {
		fd, err := dupSocket(ln)
		if err != nil {
			t.Fatal(err)
		}
		defer closeFd(fd)
		socks = append(socks, handoverSocket{Name: ln.Addr().String(), Fd: len(fds)})
		fds = append(fds, fd)
	}
	m := linkMsg{Type: msgReady, PID: p.pidN, Sockets: socks}
	for name, f := range files {
		m.Files = append(m.Files, passedFile{Name: name, Generation: p.h.Generation, PID: p.pidN})
		fds = append(fds, int(f.Fd()))
	}
	p.send(t, m, fds...)
	_ = p.stderr.Close() // a ready process writes to its own standard error
}

func (p *fakeProc) send(t *testing.T, m linkMsg, fds ...int) {
	t.Helper()
	if err := p.link.send(m, fds...); err != nil {
		t.Fatalf("fake process %d: send %s: %v", p.pidN, m.Type, err)
	}
}

// expect waits for the next message of type typ (or of one of the types
// "a|b" names) from the parent (others are skipped).
func (p *fakeProc) expect(t *testing.T, typ string) linkMsg {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-p.got:
			if slices.Contains(strings.Split(typ, "|"), m.Type) {
				return m
			}
		case <-timeout:
			t.Fatalf("fake process %d: no %q message within 10s", p.pidN, typ)
		}
	}
}

// exit ends the process with status: its link and standard error close.
func (p *fakeProc) exit(status string) {
	p.exitOnce.Do(func() {
		p.mu.Lock()
		p.status = status
		p.mu.Unlock()
		p.link.close()
		_ = p.stderr.Close()
		for _, fd := range p.sockFds {
			if fd >= 0 {
				closeFd(fd)
			}
		}
		for _, fd := range p.stateFds {
			closeFd(fd)
		}
		close(p.exitCh)
	})
}

func (p *fakeProc) exited() <-chan struct{} { return p.exitCh }

func (p *fakeProc) gotSignals() []syscall.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.signals)
}

// endAll makes every fake process still running exit, when the test ends.
func (f *fakeSystem) endAll(t *testing.T) {
	t.Cleanup(func() {
		f.mu.Lock()
		procs := slices.Clone(f.procs)
		f.mu.Unlock()
		for _, p := range procs {
			p.exit("signal: killed")
		}
	})
}

// unitProcess makes a Process on the fake system with one loopback server.
func unitProcess(t *testing.T, sys *fakeSystem, mutate func(*ProcessConfig)) (*Process, *Server) {
	t.Helper()
	return unitProcessServing(t, sys, mutate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
}

// unitProcessServing is unitProcess with the server's handler h.
func unitProcessServing(t *testing.T, sys *fakeSystem, mutate func(*ProcessConfig), h http.Handler) (*Process, *Server) {
	t.Helper()
	sys.endAll(t)
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	cfg.ReadinessPath = "/ready"
	cfg.Probation = 0
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.NewServer("127.0.0.1:0", testConfig(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return p, srv
}

// slowUnit is a Process on the fake system, run, whose server answers
// "ok" but holds GET /slow until release is closed, with such a request
// in flight.
type slowUnit struct {
	p        *Process
	srv      *Server
	addr     string
	logs     *syncBuffer
	errc     <-chan error
	slow     *rawConn        // the request in flight
	draining <-chan struct{} // closed once its server has closed its listener
	release  chan struct{}
}

func startSlowUnit(t *testing.T, sys *fakeSystem, probation time.Duration, mutate ...func(*ProcessConfig)) *slowUnit {
	t.Helper()
	u := &slowUnit{logs: &syncBuffer{}, release: make(chan struct{})}
	started := make(chan (<-chan struct{}), 1)
	u.p, u.srv = unitProcessServing(t, sys, func(c *ProcessConfig) {
		c.Logger = slog.New(slog.NewTextHandler(u.logs, nil))
		c.Probation = probation
		for _, m := range mutate {
			m(c)
		}
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- Draining(r.Context())
			<-u.release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	u.addr = u.srv.GetListenedAddress()
	u.errc = runProcess(t, sys, u.p, u.srv)
	u.slow = dialHTTP(t, u.addr)
	if _, err := fmt.Fprint(u.slow.conn, "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	u.draining = <-started
	return u
}

// finishSlow lets the request in flight end and checks its answer.
func (u *slowUnit) finishSlow(t *testing.T) {
	t.Helper()
	close(u.release)
	_ = u.slow.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(u.slow.br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the request in flight: %v %v", resp, err)
	}
}

// runPatientProcess runs a process on sys whose restarts are never
// given up on for their time (UpgradeTimeout an hour), with its log in
// logs as well as the test's; it returns Run's result channel.
func runPatientProcess(t *testing.T, sys *fakeSystem) (*Process, <-chan error, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) {
		c.UpgradeTimeout = time.Hour
		c.Logger = captureLogger(t, logs)
	})
	return p, runProcess(t, sys, p, srv), logs
}

// runProcess runs p until it serves and returns Run's result channel.
func runProcess(t *testing.T, sys *fakeSystem, p *Process, srv *Server) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	waitFor(t, "the process to serve", 5*time.Second, func() bool {
		return srv.Status() == ServerStatusRunning && sys.subscribed(syscall.SIGTERM)
	})
	return errc
}

// stopProcess asks p to stop and waits for Run.
func stopProcess(t *testing.T, sys *fakeSystem, errc <-chan error) {
	t.Helper()
	sys.deliver(syscall.SIGTERM)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestUnitRestartSignalDuringARestartIsRememberedAndPassedOn(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	errc := runProcess(t, sys, p, srv)

	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	for range 5 {
		sys.deliver(p.cfg.RestartSignal)
	}
	waitFor(t, "the extra signals to be taken", 5*time.Second, func() bool { return len(p.sigCh) == 0 })
	c.ready(t)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run after a handover = %v, want nil", err)
	}
	if n := sys.starts(); n != 1 {
		t.Errorf("%d children started, want 1", n)
	}
	// One restart is owed: the new generation performs it.
	if sigs := c.gotSignals(); len(sigs) != 1 || sigs[0] != p.cfg.RestartSignal {
		t.Errorf("signals passed on to the new generation: %v, want one %v", sigs, p.cfg.RestartSignal)
	}
	if got := srv.Status(); got != ServerStatusStopped {
		t.Errorf("the old generation's server is %v after the handover", got)
	}
	// The new generation got the service's secret in its state.
	if !bytes.Equal(c.state.Secret, p.lineage.secret[:]) {
		t.Error("the new generation did not get the service's secret")
	}
}

func TestUnitFailedRestartsAreCountedAndASignalDuringOneRunsAfterIt(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.UpgradeTimeout = time.Hour })
	errc := runProcess(t, sys, p, srv)

	sys.deliver(p.cfg.RestartSignal)
	first := <-sys.children
	sys.deliver(p.cfg.RestartSignal) // during the restart: remembered
	waitFor(t, "the second signal to be taken", 5*time.Second, func() bool { return len(p.sigCh) == 0 })
	first.exit("exit status 7") // dies before it is ready
	second := <-sys.children
	if got := p.totals.get(totalRestartsFailed); got != 1 {
		t.Errorf("restarts_failed = %d after one failure", got)
	}
	if note := sys.lastNote(); !strings.Contains(note, "starting generation 2") {
		t.Errorf("last sd_notify %q, want the second attempt's RELOADING", note)
	}
	second.ready(t)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The successor counts its own success (see inherit); this process
	// hands it its totals.
	if m := second.expect(t, msgTotals); m.Totals[totalRestartsFailed] != 1 {
		t.Errorf("totals sent to the successor %v, want restarts_failed 1", m.Totals)
	}
}

// TestUnitTheReasonOfAFailureInRunIsLogged: a new generation whose Run
// fails before it is ready (its PID file on a full disk, say) says why
// over the link, and the old one logs and returns that reason.
func TestUnitTheReasonOfAFailureInRunIsLogged(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	errc := runProcess(t, sys, p, srv)
	done := make(chan error, 1)
	go func() { done <- p.Restart(context.Background()) }()
	c := <-sys.children
	const why = "graceful: write PID file /run/app.pid: no space left on device"
	c.send(t, linkMsg{Type: msgFailed, PID: c.pid(), Error: why})
	c.exit("exit status 1")
	err := recvErr(t, done, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), why) {
		t.Errorf("Restart = %v, want the new generation's own reason", err)
	}
	if !strings.Contains(logs.String(), "child_error=\""+why) {
		t.Errorf("the log does not quote the reason:\n%s", logs.String())
	}
	stopProcess(t, sys, errc)
}

func TestUnitRestartWhileRestartingAndOnAHandedOverGeneration(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)

	first := make(chan error, 1)
	go func() { first <- p.Restart(context.Background()) }()
	c := <-sys.children
	if err := p.Restart(context.Background()); !errors.Is(err, ErrRestartInProgress) {
		t.Errorf("second Restart = %v, want ErrRestartInProgress", err)
	}
	c.ready(t)
	if err := recvErr(t, first, 10*time.Second); err != nil {
		t.Fatalf("Restart = %v", err)
	}
	// Handed over, in probation: a Restart (from a handler still
	// draining, say) is refused at once, never left hanging.
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	done := make(chan error, 1)
	go func() { done <- p.Restart(context.Background()) }()
	if err := recvErr(t, done, 5*time.Second); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Restart on a handed-over generation = %v, want ErrNotRunning", err)
	}
	c.send(t, linkMsg{Type: msgReleased, PID: c.pid()})
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Restart after Run = %v, want ErrNotRunning", err)
	}
}

func TestUnitStopSignalAbandonsRestart(t *testing.T) {
	sys := newFakeSystem()
	p, errc, logs := runPatientProcess(t, sys)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	stopProcess(t, sys, errc)
	select {
	case <-c.exited():
	default:
		t.Error("the abandoned child was not stopped")
	}
	// The log does not say that anything goes on serving.
	if out := logs.String(); strings.Contains(out, "still serving") || !strings.Contains(out, "restart abandoned: this process stops") {
		t.Errorf("the log of an abandoned restart:\n%s", out)
	}
}

// TestUnitAnAbandonedChildThatBecomesReadyStopsOnItsOwn: a stop abandons
// a restart while the child's ready message is on its way. The child,
// ready and told to stop, drains and waits for this process to exit; this
// process no longer waits for the child's exit in turn, which held both
// until the SIGKILL at the end of the stop grace (an outside-in fault run
// found it: SIGTERM 5 ms after SIGHUP, about one run in ten).
func TestUnitAnAbandonedChildThatBecomesReadyStopsOnItsOwn(t *testing.T) {
	sys := newFakeSystem()
	p, errc, logs := runPatientProcess(t, sys)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.mu.Lock()
	c.ignoreTerm = true // a ready generation drains on SIGTERM; it does not exit at once
	c.mu.Unlock()
	t.Cleanup(func() { c.exit("exit status 0") })
	sys.deliver(syscall.SIGTERM)
	waitFor(t, "the child to be told to stop", 10*time.Second, func() bool {
		return slices.Contains(c.gotSignals(), syscall.SIGTERM)
	})
	c.ready(t) // sent before it was told; it arrives now
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if slices.Contains(c.gotSignals(), syscall.SIGKILL) {
		t.Error("the child that had become ready was killed")
	}
	select {
	case <-c.exited():
		t.Error("the child that had become ready was made to exit")
	default:
	}
	if out := logs.String(); !strings.Contains(out, "the new generation became ready as this process stopped") {
		t.Errorf("the log does not say that the child became ready:\n%s", out)
	}
}

// liveAncestors gives p n older generations that still drain: their
// lifelines' write ends, which the test closes to end them.
func liveAncestors(t *testing.T, p *Process, n int) []int {
	t.Helper()
	var ws []int
	var lines []*lifeline
	for i := range n {
		r, w, err := pipeCloexec()
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		lines = append(lines, &lifeline{pid: 11 + i, generation: i + 1, fd: r, gone: make(chan struct{})})
	}
	p.lineage.watchAncestors(lines)
	t.Cleanup(func() {
		for _, w := range ws {
			closeFd(w)
		}
	})
	return ws
}

// TestUnitTooManyGenerationsIsPostponedNotForgotten: with the older
// generations still draining that fill MaxGenerations, a call to Restart
// is refused with an error, and a restart signal is postponed (the log
// says so) and runs as soon as one of them exits.
func TestUnitTooManyGenerationsIsPostponedNotForgotten(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	ws := liveAncestors(t, p, 2)
	errc := runProcess(t, sys, p, srv)
	if err := p.Restart(context.Background()); !errors.Is(err, ErrTooManyGenerations) {
		t.Fatalf("Restart with 2 draining generations = %v, want ErrTooManyGenerations", err)
	}
	sys.deliver(p.cfg.RestartSignal)
	waitFor(t, "the postponement in the log", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "restart postponed")
	})
	if n := sys.starts(); n != 0 {
		t.Fatalf("%d children started while no room", n)
	}
	closeFd(ws[0]) // one older generation exits
	c := <-sys.children
	if !strings.Contains(logs.String(), "running the postponed restart") {
		t.Errorf("the log does not say the postponed restart runs:\n%s", logs.String())
	}
	c.ready(t)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestUnitAncestorExitingDuringARestartLeavesItsFilesValid: an older
// generation that exits while a successor starts has the files it passed
// on closed; the successor still gets them, with working descriptors, not
// closed ones or numbers reused meanwhile by another file.
func TestUnitAncestorExitingDuringARestartLeavesItsFilesValid(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	ws := liveAncestors(t, p, 1)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := dupFd(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	p.lineage.takeState(linkMsg{Files: []passedFile{{Name: "forward", Generation: 1, PID: 11}}}, []int{fd})
	errc := runProcess(t, sys, p, srv)
	sys.mu.Lock()
	sys.beforeStart = func() {
		changed := p.lineage.changes()
		closeFd(ws[0]) // the ancestor exits: its files are closed
		ws[0] = -1
		<-changed
		// The lowest free number, which the ancestor's file had, goes to
		// another file.
		other, err := os.Open(os.DevNull)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { other.Close() })
	}
	sys.mu.Unlock()
	sys.deliver(p.cfg.RestartSignal)
	var c *fakeProc
	select {
	case c = <-sys.children:
	case err := <-errc:
		t.Fatalf("Run returned %v, no successor started", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no successor started")
	}
	if len(c.state.Files) != 1 || c.state.Files[0].Name != "forward" || len(c.stateFds) != 1 {
		t.Fatalf("the successor's state passes %+v (%d descriptors), want the ancestor's file", c.state.Files, len(c.stateFds))
	}
	if !sameFile(t, c.stateFds[0], statOf(t, int(w.Fd()))) {
		t.Error("the successor got another file than the one passed on")
	}
	c.ready(t)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnitRollbackWhenTheSuccessorDiesInProbation: the new generation
// dies within the probation; this one serves again, with the same
// *Server, and a connection queued meanwhile is answered.
func TestUnitRollbackWhenTheSuccessorDiesInProbation(t *testing.T) {
	sys := newFakeSystem()
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour; c.PIDFile = pidFile })
	addr := srv.GetListenedAddress()
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	// The successor wrote its PID before it reported ready.
	if err := writePIDFile(pidFile, c.pid()); err != nil {
		t.Fatal(err)
	}
	// A client that connects during the probation waits in the queue
	// (nobody accepts), and is served after the rollback.
	conn := dialHTTP(t, addr)
	if _, err := fmt.Fprint(conn.conn, "GET /ready HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.exit("exit status 7") // the new generation dies
	_ = conn.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		t.Fatalf("the connection queued during the probation: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Fatalf("the connection queued during the probation got %d %q", resp.StatusCode, body)
	}
	waitFor(t, "the rollback to be counted and told to systemd", 5*time.Second, func() bool {
		note := sys.lastNote()
		return p.totals.get(totalRollbacks) == 1 && strings.Contains(note, fmt.Sprintf("MAINPID=%d", p.pid)) && strings.Contains(note, "READY=1")
	})
	// The PID file names the process that serves again.
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(p.pid) {
		t.Errorf("PID file after the rollback: %q %v, want %d", b, err, p.pid)
	}
	// The *Server NewServer returned serves again: it is not stale.
	if got := srv.Status(); got != ServerStatusRunning {
		t.Errorf("the server NewServer returned is %v after the rollback, want running", got)
	}
	if st := srv.Stats(); st.Draining {
		t.Error("the server still says it drains after the rollback")
	}
	// It serves as before, and a later restart works.
	sys.deliver(p.cfg.RestartSignal)
	c2 := <-sys.children
	c2.ready(t)
	c2.send(t, linkMsg{Type: msgReleased, PID: c2.pid()})
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestUnitOnlyTheRestartSignalRestarts: the other signals a restart may
// be configured with are caught and ignored, so that the one an earlier
// configuration named cannot end the process; the configured one
// restarts.
func TestUnitOnlyTheRestartSignalRestarts(t *testing.T) {
	sys := newFakeSystem()
	var logs syncBuffer
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) {
		c.RestartSignal = syscall.SIGUSR1
		c.Logger = captureLogger(t, &logs)
	})
	errc := runProcess(t, sys, p, srv)
	sys.deliver(syscall.SIGHUP)
	sys.deliver(syscall.SIGUSR2)
	waitFor(t, "the other signals to be ignored", 5*time.Second, func() bool {
		return strings.Count(logs.String(), "signal ignored: it is not the restart signal") == 2
	})
	if n := sys.starts(); n != 0 || srv.Status() != ServerStatusRunning {
		t.Fatalf("after SIGHUP and SIGUSR2: %d starts, server %v; want none, running", n, srv.Status())
	}
	sys.deliver(syscall.SIGUSR1)
	c := <-sys.children
	c.ready(t)
	c.send(t, linkMsg{Type: msgReleased, PID: c.pid()})
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestUnitSignalsToAGenerationThatHandedOverArePassedOn: a re-exec
// generation that has handed over passes the restart signals it gets on
// to its successor, which serves (ignored, they were lost); and the stop
// signals within its probation, or while the PID file still names it:
// the successor renames its own over it just after its ready message, so
// the sender read the file about the time of the handover and meant the
// service. Past both, a stop signal here stops this generation alone,
// whose drain goes on.
func TestUnitSignalsToAGenerationThatHandedOverArePassedOn(t *testing.T) {
	for _, tc := range []struct {
		probation    time.Duration
		fileNamesOld bool
		wantPassed   bool
	}{
		{time.Hour, true, true},
		{time.Hour, false, true},
		{0, true, true},
		{0, false, false},
	} {
		t.Run(fmt.Sprintf("probation %s, PID file names the old generation %v", tc.probation, tc.fileNamesOld), func(t *testing.T) {
			sys := newFakeSystem()
			pidFile := filepath.Join(t.TempDir(), "app.pid")
			// A request in flight keeps the old generation draining.
			u := startSlowUnit(t, sys, tc.probation, func(c *ProcessConfig) { c.PIDFile = pidFile })
			p, logs := u.p, u.logs
			sys.deliver(p.cfg.RestartSignal)
			c := <-sys.children
			c.ready(t)
			<-u.draining
			if !tc.fileNamesOld {
				if err := writePIDFile(pidFile, c.pid()); err != nil {
					t.Fatal(err)
				}
			}
			sys.deliver(p.cfg.RestartSignal)
			c.expect(t, msgRestart)
			sys.deliver(syscall.SIGTERM)
			waitFor(t, "the stop signal to be handled", 5*time.Second, func() bool {
				return strings.Contains(logs.String(), "stop requested while draining")
			})
			u.finishSlow(t)
			// The link keeps the order: what the old generation sent
			// before its last message (the counters, as it exits) has
			// arrived by then.
			passed := false
			for m := c.expect(t, msgStop+"|"+msgTotals); m.Type != msgTotals; m = c.expect(t, msgStop+"|"+msgTotals) {
				passed = true
			}
			if passed != tc.wantPassed {
				t.Errorf("stop signal passed on: %v, want %v\n%s", passed, tc.wantPassed, logs.String())
			}
			if err := recvErr(t, u.errc, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnitReexecRestartRefusedUnderAContainerInit: a re-exec restart
// ends with this process exiting; when that would end its container (its
// parent is a container init such as tini, or is outside its PID
// namespace), the restart is refused, with a reason that says what to
// use instead, and the process goes on serving.
func TestUnitReexecRestartRefusedUnderAContainerInit(t *testing.T) {
	sys := newFakeSystem()
	sys.container = "its parent is PID 1, tini, a container init that ends the container when its child exits"
	var logs syncBuffer
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Logger = captureLogger(t, &logs) })
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	waitFor(t, "the restart to be refused", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "restart refused; still serving")
	})
	// Logged before the loop took the signal.
	if !strings.Contains(logs.String(), "re-exec restarts will be refused: its parent is PID 1, tini") {
		t.Errorf("the start does not warn that restarts will be refused:\n%s", logs.String())
	}
	if out := logs.String(); !strings.Contains(out, "tini") || !strings.Contains(out, "use process.mode: supervisor") {
		t.Errorf("the refusal does not say why and what to use:\n%s", out)
	}
	if n := sys.starts(); n != 0 || srv.Status() != ServerStatusRunning {
		t.Errorf("after the refusal: %d starts, server %v; want none, running", n, srv.Status())
	}
	stopProcess(t, sys, errc)
}

// TestUnitReadinessAnswersForTheServiceDuringARestart: a readiness probe
// that the generation which has handed over answers, on a connection it
// accepted before the restart, finds the service ready, as it is: its
// successor serves. (A probe with a failure threshold of one would
// otherwise take the instance out of its load balancer at a restart.)
func TestUnitReadinessAnswersForTheServiceDuringARestart(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)
	conn := dialHTTP(t, srv.GetListenedAddress())
	// The probe's request is on its way as the restart happens.
	if _, err := fmt.Fprint(conn.conn, "GET /ready HTTP/1.1\r\nHost: test\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the probe's first bytes to be read", 5*time.Second, func() bool { return srv.Stats().ActiveConns == 1 })
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Stats().Draining })
	if _, err := fmt.Fprint(conn.conn, "\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		t.Fatalf("the probe: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Errorf("the probe answered by the generation that handed over got %d %q, want 200 \"ready\"", resp.StatusCode, body)
	}
	if !p.Stopping() || p.Stats().Ready {
		t.Errorf("the generation that handed over: Stopping %v, Stats().Ready %v; want true, false", p.Stopping(), p.Stats().Ready)
	}
	c.send(t, linkMsg{Type: msgReleased, PID: c.pid()})
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestUnitRetiredSocketIsFreeAtOnceAndServedAgainAfterARollback: a
// successor that does not take a socket (its address changed) leaves it
// to the old generation, which serves what was queued on it and closes it
// at once, though it still drains a long request: the address can be
// bound by another process (a restart back to it used to fail with
// "address already in use" until the drain ended). If the successor then
// dies within the probation, the old generation binds it again and
// serves (it used to fail: "it was not handed over"), and the end of the
// old round's drain leaves the new socket alone.
func TestUnitRetiredSocketIsFreeAtOnceAndServedAgainAfterARollback(t *testing.T) {
	sys := newFakeSystem()
	u := startSlowUnit(t, sys, time.Hour)
	p, srv, logs := u.p, u.srv, u.logs
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.readyTakingNone(t)
	waitFor(t, "the old generation to close the socket it retires", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "closed the sockets the successor does not use")
	})
	other, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatalf("the address of a retired socket, while the old generation drains: %v", err)
	}
	_ = other.Close()
	c.exit("exit status 7")
	waitFor(t, "the rollback", 10*time.Second, func() bool {
		return srv.Status() == ServerStatusRunning && p.totals.get(totalRollbacks) == 1 || strings.Contains(logs.String(), "rollback failed")
	})
	if strings.Contains(logs.String(), "rollback failed") {
		t.Fatalf("rollback failed:\n%s", logs.String())
	}
	get := func() {
		t.Helper()
		c := dialHTTP(t, u.addr)
		if _, err := fmt.Fprint(c.conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("GET after the rollback: %v", err)
		}
		_ = resp.Body.Close()
	}
	get()
	u.finishSlow(t) // the old round's drain ends
	waitFor(t, "the old round's drain to end", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "msg=drained")
	})
	p.mu.Lock()
	fd := p.socks.owned[0].fd
	p.mu.Unlock()
	if fd < 0 {
		t.Fatal("the end of the old round's drain closed the socket the rollback took back")
	}
	get()
	stopProcess(t, sys, u.errc)
}

// TestUnitReleasedGenerationLetsItsSocketsGo: once its probation is
// over, a generation that still drains a long request closes its copies
// of the sockets its successor serves, so that if the successor dies
// connections are refused at once (not queued where nobody accepts, until
// the drain ends) and a fresh start can bind the address; and a restart
// signal sent to it then is ignored, not a new generation started from it.
func TestUnitReleasedGenerationLetsItsSocketsGo(t *testing.T) {
	sys := newFakeSystem()
	u := startSlowUnit(t, sys, 0)
	p, logs := u.p, u.logs
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	<-u.draining // the server has closed its listener
	waitFor(t, "the old generation to close its copy of the socket", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.socks.owned[0].fd < 0
	})
	c.exit("signal: killed") // the successor dies after its probation
	conn, err := net.Dial("tcp", u.addr)
	if err == nil {
		_ = conn.Close()
		t.Fatal("a connection to the address of a successor that died was accepted by the kernel, to wait on a socket nobody serves")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after the successor died: %v, want connection refused", err)
	}
	waitFor(t, "the successor's death to be logged", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "the successor died after its probation")
	})
	sys.deliver(p.cfg.RestartSignal)
	waitFor(t, "the restart signal to be handled", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "restart signal ignored: this generation has handed over")
	})
	if n := sys.starts(); n != 1 {
		t.Errorf("%d generations started from this one, want 1 (none after it handed over)", n)
	}
	select {
	case err := <-u.errc:
		t.Fatalf("Run returned while a request was in flight: %v", err)
	default:
	}
	u.finishSlow(t)
	if err := recvErr(t, u.errc, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestUnitUnresponsiveSuccessorIsRolledBack: a new generation that stops
// answering within the probation (stopped, wedged) is killed and rolled
// back from, within livenessTimeout and a beat.
func TestUnitUnresponsiveSuccessorIsRolledBack(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	_ = sys.kill(c.pid(), syscall.SIGSTOP)
	select {
	case <-c.exited():
	case <-time.After(livenessTimeout + 10*time.Second):
		t.Fatal("a stopped new generation was not killed")
	}
	if sigs := c.gotSignals(); !slices.Contains(sigs, syscall.SIGKILL) {
		t.Errorf("signals to the stopped generation: %v, want SIGKILL", sigs)
	}
	// The server runs again before the lifecycle counts the rollback:
	// wait for both.
	waitFor(t, "the rollback", 10*time.Second, func() bool {
		return srv.Status() == ServerStatusRunning && p.totals.get(totalRollbacks) == 1
	})
	stopProcess(t, sys, errc)
}

func TestUnitNoRollbackAfterTheSuccessorWasAskedToStop(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	c.send(t, linkMsg{Type: msgReleased, PID: c.pid()}) // it began a final shutdown
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.exit("exit status 0")
	if got := p.totals.get(totalRollbacks); got != 0 {
		t.Errorf("rollbacks = %d", got)
	}
}

func TestUnitConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*ProcessConfig)
		want   string
	}{
		{func(c *ProcessConfig) { c.MaxGenerations = 1 }, "at least 2"},
		{func(c *ProcessConfig) { c.Mode = "fork" }, `unknown restart mode "fork"`},
		{func(c *ProcessConfig) { c.Probation = -time.Second }, "Probation is -1s"},
	} {
		cfg := DefaultProcessConfig()
		tc.mutate(&cfg)
		if _, err := newProcess(cfg, newFakeSystem()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewProcess: %v, want %q", err, tc.want)
		}
	}
}

const validHandover = `{"v":4,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":":8080","fd":7}]}`

func TestParseHandoverRejectsHostileInput(t *testing.T) {
	if _, err := parseHandover(validHandover); err != nil {
		t.Fatalf("valid handover rejected: %v", err)
	}
	h := func(mid string) string {
		return `{"v":4,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],` + mid + `}`
	}
	head := func(rest string) string { return `{"v":4,"role":"process",` + rest }
	for _, tc := range []struct{ in, want string }{
		{"", "not a valid handover description"},
		{"{", "not a valid handover description"},
		{`{"v":4} {"v":4}`, "trailing data"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[],"extra":1`), "unknown field"},
		{`{"v":2,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, "version 2"},
		{head(`"generation":1,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`), "generation 1"},
		{`{"v":4,"role":"boss","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, `unknown role "boss"`},
		{head(`"generation":2,"ancestors":[],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`), "no ancestors"},
		{head(`"generation":2,"ancestors":[{"pid":1,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`), "ancestor PID 1"},
		{head(`"generation":2,"ancestors":[{"pid":10,"lifeline":-1}],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`), "has no lifeline"},
		{h(`"link_fd":0,"stderr_fd":4,"pipe_fd":5`), "fd 0 (link)"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":99999999}]`), "are 3 to 7, in a row"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":3}]`), "also given as link"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"","fd":7}]`), "has no name"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":7},{"name":"a","fd":8}]`), "given twice"},
		{h(`"link_fd":-3,"stderr_fd":4,"pipe_fd":5`), "fd -3"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[` + strings.Repeat(`{"name":"a","fd":7},`, 60000) + `{"name":"b","fd":8}]`), "more than the"},
	} {
		_, err := parseHandover(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseHandover(%.120s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseHandover(f *testing.F) {
	f.Add(validHandover)
	f.Add(`{"v":4}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := parseHandover(in)
		if err != nil {
			return
		}
		if len(h.Ancestors) == 0 || (h.Role != roleNameProcess && h.Role != roleNameWorker) {
			t.Fatalf("accepted an invalid handover: %+v", h)
		}
		for i, fd := range h.fds() {
			if fd != 3+i {
				t.Fatalf("accepted descriptors %v", h.fds())
			}
		}
		for _, s := range h.Sockets {
			if s.Name == "" {
				t.Fatalf("accepted a socket without a name: %+v", s)
			}
		}
	})
}

func TestUnitPID1RefusesReexecRestart(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	p.pid = 1
	errc := runProcess(t, sys, p, srv)
	err := p.Restart(context.Background())
	if err == nil || !strings.Contains(err.Error(), "PID 1") || !strings.Contains(err.Error(), "supervisor") {
		t.Fatalf("Restart as PID 1 in reexec mode = %v, want a refusal pointing to supervisor mode", err)
	}
	if n := sys.starts(); n != 0 {
		t.Errorf("%d children started", n)
	}
	stopProcess(t, sys, errc)
}

// TestUnitInheritedSocketMustBeWhereItsNameSays: a socket handed over
// under one address but bound to another is refused, not served.
func TestUnitInheritedSocketMustBeWhereItsNameSays(t *testing.T) {
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	p, err := newProcess(cfg, newFakeSystem())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := func(name string) *socket {
		fd, err := dupSocket(ln)
		if err != nil {
			t.Fatal(err)
		}
		return &socket{name: name, fd: fd, addr: ln.Addr(), from: "parent"}
	}
	p.socks.inherited = []*socket{sock("127.0.0.1:1")}
	_, err = p.NewServer("127.0.0.1:1", testConfig(t, nil))
	if err == nil || !strings.Contains(err.Error(), `inherited socket "127.0.0.1:1" is bound to `+ln.Addr().String()) {
		t.Fatalf("NewServer with a mislabelled inherited socket = %v", err)
	}
	p.socks.inherited = []*socket{sock("unix:/run/x.sock")}
	_, err = p.NewServer("unix:/run/x.sock", testConfig(t, nil))
	if err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("NewServer with a TCP socket named as a unix one = %v", err)
	}
	_, err = p.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	if _, err := p.Listen("udp", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "use ListenPacket") {
		t.Errorf("Listen(udp) = %v", err)
	}
	p.closeSockets()
	for _, s := range p.socks.inherited {
		s.close()
	}
}

// runWithServices runs a Process on sys, logging to logger, with one
// server whose drain is bounded by timeout and the services svcs; it
// returns Run's result channel.
func runWithServices(t *testing.T, sys *fakeSystem, logger *slog.Logger, timeout time.Duration, svcs ...Service) <-chan error {
	t.Helper()
	sys.endAll(t)
	cfg := DefaultProcessConfig()
	cfg.Logger = logger
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	scfg := testConfig(t, nil)
	scfg.GracefulShutdownTimeout = timeout
	srv, err := p.NewServer("127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs {
		if err := p.Add(svc); err != nil {
			t.Fatal(err)
		}
	}
	return runProcess(t, sys, p, srv)
}

// endlessService's work never ends (a stream a client keeps open): its
// Shutdown returns only when its ctx ends, with ctx's error.
type endlessService struct {
	stop chan struct{}
	cut  chan error
}

func (s *endlessService) Serve(context.Context) error {
	<-s.stop
	return ErrServerClosed
}

func (s *endlessService) Shutdown(ctx context.Context) error {
	close(s.stop)
	<-ctx.Done()
	s.cut <- ctx.Err()
	return ctx.Err()
}

// TestUnitAServiceThatNeverFinishesIsCut: a service's Shutdown is bounded
// as the servers' drain is (their GracefulShutdownTimeout), so that work
// that never ends cannot keep a generation alive.
func TestUnitAServiceThatNeverFinishesIsCut(t *testing.T) {
	sys := newFakeSystem()
	svc := &endlessService{stop: make(chan struct{}), cut: make(chan error, 1)}
	stopProcess(t, sys, runWithServices(t, sys, testLogger(t), 200*time.Millisecond, svc))
	if err := <-svc.cut; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the service's Shutdown ended with %v, want the deadline", err)
	}
}

// stuckService breaks the Service contract: its Serve never returns
// (serveStuck) or its Shutdown ignores its ctx (shutdownStuck). release
// lets what is stuck return when the test ends.
type stuckService struct {
	serveStuck, shutdownStuck bool
	stop, release             chan struct{}
}

func (s *stuckService) Serve(context.Context) error {
	if s.serveStuck {
		<-s.release
	} else {
		<-s.stop
	}
	return ErrServerClosed
}

func (s *stuckService) Shutdown(ctx context.Context) error {
	close(s.stop)
	if s.shutdownStuck {
		<-s.release
	}
	return nil
}

// TestUnitAServiceThatBreaksItsContractDoesNotHoldTheStop: a service
// whose Serve does not return after its Shutdown, or whose Shutdown does
// not return after its ctx ended, is named in an error and left behind;
// the stop ends (before, it waited for them forever).
func TestUnitAServiceThatBreaksItsContractDoesNotHoldTheStop(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	release := make(chan struct{})
	defer close(release)
	serve := &stuckService{serveStuck: true, stop: make(chan struct{}), release: release}
	shutdown := &stuckService{shutdownStuck: true, stop: make(chan struct{}), release: release}
	stopProcess(t, sys, runWithServices(t, sys, captureLogger(t, logs), 100*time.Millisecond, serve, shutdown))
	for _, want := range []string{
		"a service's Serve did not return once its Shutdown had",
		"a service's Shutdown did not return once its context ended",
	} {
		if n := strings.Count(logs.String(), want); n != 1 {
			t.Errorf("%d lines %q, want 1", n, want)
		}
	}
}

// TestDrainTimeoutOfServices: the bound of a service's Shutdown is the
// longest GracefulShutdownTimeout of the servers, the default without
// servers, and none when no server has a limit.
func TestDrainTimeoutOfServices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeouts []time.Duration
		want     time.Duration
	}{
		{"no servers", nil, DefaultGracefulShutdownTimeout},
		{"the longest", []time.Duration{time.Second, 3 * time.Second}, 3 * time.Second},
		{"no limit", []time.Duration{0}, 0},
	} {
		sys := newFakeSystem()
		cfg := DefaultProcessConfig()
		cfg.Logger = testLogger(t)
		p, err := newProcess(cfg, sys)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range tc.timeouts {
			scfg := testConfig(t, nil)
			scfg.GracefulShutdownTimeout = d
			srv, err := p.NewServer(fmt.Sprintf("127.0.0.%d:0", i+1), scfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close(context.Background())
		}
		if got := p.drainTimeout(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		p.closeSockets()
		sys.stopSignals(p.sigCh)
	}
}

// TestUnitAServerWhoseListenerFailsStopsTheProcess: a server whose
// listening socket fails (here shut down under it, so that accept(2)
// fails for good) is closed, and the process stops with an error that
// names it, as for any service that fails; its other server is drained.
func TestUnitAServerWhoseListenerFailsStopsTheProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shutdown(2) of a listening TCP socket makes accept fail on Linux")
	}
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	other, err := p.NewServer("127.0.0.2:0", testConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	errc := runProcess(t, sys, p, srv)
	p.mu.Lock()
	fd := p.socks.owned[0].fd // srv's
	p.mu.Unlock()
	if err := syscall.Shutdown(fd, syscall.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	err = recvErr(t, errc, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "serve "+srv.GetListenedAddress()) {
		t.Fatalf("Run = %v, want the server's failure", err)
	}
	if srv.Status() != ServerStatusStopped || other.Status() != ServerStatusStopped {
		t.Errorf("after the failure: the server is %v, the other one %v; want both stopped", srv.Status(), other.Status())
	}
}

// TestUnitStopAfterARollbackWaitsForRequestsFromBeforeIt: a request that
// began before a restart, still in flight after a rollback, is drained
// by the stop that follows (and by a later handover): the process does
// not end before it has its answer.
func TestUnitStopAfterARollbackWaitsForRequestsFromBeforeIt(t *testing.T) {
	for _, then := range []string{"stop", "handover"} {
		t.Run(then, func(t *testing.T) {
			sys := newFakeSystem()
			u := startSlowUnit(t, sys, time.Hour)
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(u.logs.String())
				}
			})
			sys.deliver(u.p.cfg.RestartSignal)
			c := <-sys.children
			c.ready(t)
			<-u.draining
			c.exit("exit status 7") // the new generation dies: rollback
			waitFor(t, "the rollback", 5*time.Second, func() bool {
				return u.p.totals.get(totalRollbacks) == 1 && u.srv.Status() == ServerStatusRunning
			})
			if then == "stop" {
				sys.deliver(syscall.SIGTERM)
			} else {
				sys.deliver(u.p.cfg.RestartSignal)
				c2 := <-sys.children
				c2.ready(t)
				c2.send(t, linkMsg{Type: msgReleased, PID: c2.pid()})
			}
			waitFor(t, "the drain of the round after the rollback", 5*time.Second, func() bool { return u.srv.Status() == ServerStatusStopped })
			select {
			case err := <-u.errc:
				t.Fatalf("Run returned (%v) with a request from before the rollback in flight", err)
			case <-time.After(100 * time.Millisecond):
			}
			u.finishSlow(t)
			if err := recvErr(t, u.errc, 10*time.Second); err != nil {
				t.Fatalf("Run = %v", err)
			}
		})
	}
}

// TestUnitRollbackOntoATakenAddressSaysWhy: a rollback whose retired
// address another program has bound meanwhile fails, and says so (not a
// platform limit); the process ends once the requests from before the
// restart have their answers, with an error naming the address.
func TestUnitRollbackOntoATakenAddressSaysWhy(t *testing.T) {
	sys := newFakeSystem()
	u := startSlowUnit(t, sys, time.Hour)
	sys.deliver(u.p.cfg.RestartSignal)
	c := <-sys.children
	c.readyTakingNone(t)
	waitFor(t, "the old generation to close the socket it retires", 5*time.Second, func() bool {
		return strings.Contains(u.logs.String(), "closed the sockets the successor does not use")
	})
	other, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c.exit("exit status 7")
	waitFor(t, "the rollback to fail", 10*time.Second, func() bool { return strings.Contains(u.logs.String(), "rollback failed") })
	u.finishSlow(t)
	err = recvErr(t, u.errc, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "again: listen on "+u.addr) || strings.Contains(err.Error(), "cannot pass sockets") {
		t.Fatalf("Run = %v, want the rollback's bind error alone", err)
	}
	if out := u.logs.String(); !strings.Contains(out, "msg=stopped") || strings.Contains(out, "2562047h") {
		t.Errorf("the log of the stop after the failed rollback:\n%s", out)
	}
}

// TestUnitDrainBoundIsNoneWhenAServerHasNone: a process whose servers
// all bound their drain reports a bound (both steps of a drain: what is
// queued served, then the shutdown, each within drainLimit); one server
// without a GracefulShutdownTimeout makes it none, so that no other
// process ever kills this one for draining long.
func TestUnitDrainBoundIsNoneWhenAServerHasNone(t *testing.T) {
	sys := newFakeSystem()
	p, _ := unitProcess(t, sys, nil)
	cfg := testConfig(t, nil)
	cfg.GracefulShutdownTimeout = 10 * time.Second
	if _, err := p.NewServer("127.0.0.2:0", cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := p.boundedDrainLimit(), 2*drainLimitOf(p.drainTimeout()); got != want || got <= 0 {
		t.Fatalf("bounded servers: %v, want %v", got, want)
	}
	cfg.GracefulShutdownTimeout = 0
	if _, err := p.NewServer("127.0.0.3:0", cfg); err != nil {
		t.Fatal(err)
	}
	if got := p.boundedDrainLimit(); got != 0 {
		t.Fatalf("with a server whose drain has no bound: %v, want 0 (none)", got)
	}
}

// TestUnitRestartGivenUpByItsCallerIsAFailureNotAStop: a Restart whose
// context ends before the successor is ready fails as any restart does:
// the log says the process still serves, and systemd is told the reload
// is over; only a stop abandons a restart.
func TestUnitRestartGivenUpByItsCallerIsAFailureNotAStop(t *testing.T) {
	sys := newFakeSystem()
	p, errc, logs := runPatientProcess(t, sys)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- p.Restart(ctx) }()
	<-sys.children // never ready
	cancel()
	if err := recvErr(t, res, 10*time.Second); err == nil {
		t.Fatal("Restart = nil, want its failure")
	}
	waitFor(t, "the failure to be told to systemd", 5*time.Second, func() bool {
		return strings.Contains(sys.lastNote(), "READY=1") && strings.Contains(sys.lastNote(), "still serving")
	})
	if out := logs.String(); !strings.Contains(out, "restart failed; still serving") || strings.Contains(out, "restart abandoned") {
		t.Errorf("the log of a restart its caller gave up on:\n%s", out)
	}
	stopProcess(t, sys, errc)
}

// TestUnitAHandedOverGenerationRemovesAPIDFileOnlyItNames: after a
// handover, the old generation removes its PID file if it still names it
// (the successor wrote another: process.pidFile changed), and leaves it
// when the successor wrote its own PID there, or said in its ready
// message that it puts its file at the same path once ready (it may not
// have yet when the old generation has drained).
func TestUnitAHandedOverGenerationRemovesAPIDFileOnlyItNames(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		writesBefore, saysSameAs bool
		want                     string // what the file names after the old generation's exit
	}{
		{"successor writes another path", false, false, "removed"},
		{"successor wrote the same path before ready", true, false, "successor"},
		{"successor puts the same path in place after ready", false, true, "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newFakeSystem()
			pidFile := filepath.Join(t.TempDir(), "app.pid")
			p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.PIDFile = pidFile })
			errc := runProcess(t, sys, p, srv)
			sys.deliver(p.cfg.RestartSignal)
			c := <-sys.children
			if tc.writesBefore {
				if err := writePIDFile(pidFile, c.pid()); err != nil {
					t.Fatal(err)
				}
			}
			ready := linkMsg{Type: msgReady, PID: c.pid()}
			for _, s := range c.h.Sockets {
				ready.Sockets = append(ready.Sockets, handoverSocket{Name: s.Name, Fd: -1})
			}
			if tc.saysSameAs {
				ready.PIDFile = pidFile
			}
			c.send(t, ready)
			_ = c.stderr.Close()
			c.send(t, linkMsg{Type: msgReleased, PID: c.pid()})
			if err := recvErr(t, errc, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(pidFile)
			got := strings.TrimSpace(string(b))
			switch {
			case tc.want == "removed" && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the old generation's PID file after the handover: %q %v, want it removed", b, err)
			case tc.want == "successor" && (err != nil || got != strconv.Itoa(c.pid())):
				t.Errorf("the successor's PID file: %q %v, want its PID", b, err)
			case tc.want == "old" && (err != nil || got != strconv.Itoa(p.pid)):
				t.Errorf("the PID file the successor puts in place: %q %v, want it left for the successor to replace (still the old PID %d)", b, err, p.pid)
			}
		})
	}
}

// TestUnitAPIDFileThatIsADirectoryFailsTheStart: the PID file's path is
// checked before the process reports ready, with an error that says
// what is wrong, and nothing is left beside it.
func TestUnitAPIDFileThatIsADirectoryFailsTheStart(t *testing.T) {
	sys := newFakeSystem()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "app.pid")
	if err := os.Mkdir(pidFile, 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := unitProcess(t, sys, func(c *ProcessConfig) { c.PIDFile = pidFile })
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "write PID file "+pidFile+": it is a directory") {
		t.Fatalf("Run = %v, want the PID file named as a directory", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the PID file's directory, want only the directory in the way: %v", len(entries), entries)
	}
	if strings.Contains(sys.lastNote(), "READY=1") {
		t.Errorf("systemd was told READY=1: %q", sys.lastNote())
	}
}
