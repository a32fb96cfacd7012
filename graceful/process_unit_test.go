package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeSystem is an operating system for the restart state machine's unit
// tests: signals are delivered by the test and children are fakes; the
// servers are real, on loopback.
type fakeSystem struct {
	mu       sync.Mutex
	env      map[string]string
	subs     map[os.Signal][]chan<- os.Signal
	specs    []childSpec
	children chan *fakeChild
	notes    []string
	alive    map[int]bool
	exited   chan int
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{
		env:      map[string]string{},
		subs:     map[os.Signal][]chan<- os.Signal{},
		alive:    map[int]bool{},
		children: make(chan *fakeChild, 16),
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

func (f *fakeSystem) environ() []string { return nil }

func (f *fakeSystem) notifySignals(ch chan<- os.Signal, sigs ...os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range sigs {
		f.subs[s] = append(f.subs[s], ch)
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
	return nil, nil, errors.New("the fake system hands nothing over")
}

func (f *fakeSystem) activationSockets(*slog.Logger) ([]*socket, error) { return nil, nil }

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

func (f *fakeSystem) startChild(spec childSpec) (child, error) {
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	c := newFakeChild(len(f.specs))
	f.mu.Unlock()
	f.children <- c
	return c, nil
}

func (f *fakeSystem) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.specs)
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

func (f *fakeSystem) processAlive(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pid]
}

func (f *fakeSystem) exit(code int) { f.exited <- code }

func (f *fakeSystem) parentIsSystemd() bool { return false }

// fakeChild is a new generation whose fate the test decides.
type fakeChild struct {
	id       int
	readyCh  chan struct{}
	exitedCh chan struct{}
	msgs     chan linkMsg
	readyMu  sync.Once
	exitMu   sync.Once
	mu       sync.Mutex
	sent     []linkMsg
	signals  []os.Signal
}

func newFakeChild(id int) *fakeChild {
	return &fakeChild{id: id, readyCh: make(chan struct{}), exitedCh: make(chan struct{}), msgs: make(chan linkMsg, 8)}
}

func (c *fakeChild) pid() int                                { return 100000 + c.id }
func (c *fakeChild) ready() <-chan struct{}                  { return c.readyCh }
func (c *fakeChild) readySockets() ([]handoverSocket, []int) { return nil, nil }
func (c *fakeChild) messages() <-chan linkMsg                { return c.msgs }
func (c *fakeChild) exited() <-chan struct{}                 { return c.exitedCh }
func (c *fakeChild) exitStatus() string                      { return "exit status 7" }
func (c *fakeChild) stderrTail() string                      { return "fake child's last words" }
func (c *fakeChild) markReady()                              { c.readyMu.Do(func() { close(c.readyCh) }) }
func (c *fakeChild) exit()                                   { c.exitMu.Do(func() { close(c.exitedCh) }) }
func (c *fakeChild) stop(time.Duration)                      { c.exit() }
func (c *fakeChild) send(m linkMsg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}
func (c *fakeChild) signal(sig os.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signals = append(c.signals, sig)
}

// unitProcess makes a Process on the fake system with one loopback server.
func unitProcess(t *testing.T, sys *fakeSystem, mutate func(*ProcessConfig)) (*Process, *Server) {
	t.Helper()
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
	srv, err := p.NewServer("127.0.0.1:0", testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	if err != nil {
		t.Fatal(err)
	}
	return p, srv
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
	c.markReady()
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run after a handover = %v, want nil", err)
	}
	if n := sys.starts(); n != 1 {
		t.Errorf("%d children started, want 1", n)
	}
	// One restart is owed: the new generation performs it.
	c.mu.Lock()
	sigs := c.signals
	c.mu.Unlock()
	if len(sigs) != 1 || sigs[0] != p.cfg.RestartSignal {
		t.Errorf("signals passed on to the new generation: %v, want one %v", sigs, p.cfg.RestartSignal)
	}
	if got := srv.Status(); got != ServerStatusStopped {
		t.Errorf("the old generation's server is %v after the handover", got)
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
	first.exit() // dies before it is ready
	second := <-sys.children
	if got := p.totals.get(totalRestartsFailed); got != 1 {
		t.Errorf("restarts_failed = %d after one failure", got)
	}
	if note := sys.lastNote(); !strings.Contains(note, "starting generation 2") {
		t.Errorf("last sd_notify %q, want the second attempt's RELOADING", note)
	}
	second.markReady()
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := p.totals.get(totalRestartsFailed); got != 1 {
		t.Errorf("restarts_failed = %d", got)
	}
	// The successor counts its own success (see inherit); this process
	// hands it its final totals.
	second.mu.Lock()
	defer second.mu.Unlock()
	if n := len(second.sent); n == 0 || second.sent[n-1].Type != msgTotals || second.sent[n-1].Totals[totalRestartsFailed] != 1 {
		t.Errorf("messages to the successor %+v, want its final totals last", second.sent)
	}
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
	c.markReady()
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
	c.msgs <- linkMsg{Type: msgReleased, PID: c.pid()}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Restart after Run = %v, want ErrNotRunning", err)
	}
}

func TestUnitStopSignalAbandonsRestart(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.UpgradeTimeout = time.Hour })
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	stopProcess(t, sys, errc)
	select {
	case <-c.exited():
	default:
		t.Error("the abandoned child was not stopped")
	}
}

func TestUnitTooManyGenerationsIsRefusedAndLogged(t *testing.T) {
	sys := newFakeSystem()
	var logs strings.Builder
	var mu sync.Mutex
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) {
		c.Logger = slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(b)
		}), nil))
	})
	p.ancestors = []int{11, 12}
	sys.alive[11], sys.alive[12] = true, true
	errc := runProcess(t, sys, p, srv)
	err := p.Restart(context.Background())
	if !errors.Is(err, ErrTooManyGenerations) || !strings.Contains(err.Error(), "[11 12]") {
		t.Fatalf("Restart with 2 draining generations = %v, want ErrTooManyGenerations naming them", err)
	}
	// By signal too: refused, and said so in the log.
	sys.deliver(p.cfg.RestartSignal)
	waitFor(t, "the refusal in the log", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(logs.String(), "restart failed; still serving") == 2
	})
	if n := sys.starts(); n != 0 {
		t.Errorf("%d children started", n)
	}
	sys.mu.Lock()
	sys.alive[11], sys.alive[12] = false, false // drained: the stop need not wait for them
	sys.mu.Unlock()
	stopProcess(t, sys, errc)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestUnitRollbackWhenTheSuccessorDiesInProbation(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	addr := srv.GetListenedAddress()
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.markReady()
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	// A client that connects during the probation waits in the queue
	// (nobody accepts), and is served after the rollback.
	conn := dialHTTP(t, addr)
	if _, err := fmt.Fprint(conn.conn, "GET /ready HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.exit() // the new generation dies
	_ = conn.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		t.Fatalf("the connection queued during the probation: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Fatalf("the connection queued during the probation got %d %q", resp.StatusCode, body)
	}
	if got := p.totals.get(totalRollbacks); got != 1 {
		t.Errorf("rollbacks = %d", got)
	}
	if note := sys.lastNote(); !strings.Contains(note, fmt.Sprintf("MAINPID=%d", p.pid)) || !strings.Contains(note, "READY=1") {
		t.Errorf("last sd_notify %q, want MAINPID and READY from the rolled-back process", note)
	}
	// It serves as before, and a later restart works.
	sys.deliver(p.cfg.RestartSignal)
	c2 := <-sys.children
	c2.markReady()
	c2.msgs <- linkMsg{Type: msgReleased, PID: c2.pid()}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestUnitNoRollbackAfterTheSuccessorWasAskedToStop(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.markReady()
	c.msgs <- linkMsg{Type: msgReleased, PID: c.pid()} // it began a final shutdown
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.exit()
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

const validHandover = `{"v":2,"role":"process","generation":2,"ancestors":[10],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":":8080","fd":6}]}`

func TestParseHandoverRejectsHostileInput(t *testing.T) {
	if _, err := parseHandover(validHandover); err != nil {
		t.Fatalf("valid handover rejected: %v", err)
	}
	h := func(mid string) string {
		return `{"v":2,"role":"process","generation":2,"ancestors":[10],` + mid + `}`
	}
	for _, tc := range []struct{ in, want string }{
		{"", "not a valid handover description"},
		{"{", "not a valid handover description"},
		{`{"v":2} {"v":2}`, "trailing data"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[],"extra":1`), "unknown field"},
		{`{"v":1,"role":"process","generation":2,"ancestors":[10],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, "version 1"},
		{`{"v":2,"role":"process","generation":1,"ancestors":[10],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, "generation 1"},
		{`{"v":2,"role":"boss","generation":2,"ancestors":[10],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, `unknown role "boss"`},
		{`{"v":2,"role":"process","generation":2,"ancestors":[],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, "no ancestors"},
		{`{"v":2,"role":"process","generation":2,"ancestors":[1],"link_fd":3,"stderr_fd":4,"pipe_fd":5}`, "ancestor PID 1"},
		{h(`"link_fd":0,"stderr_fd":4,"pipe_fd":5`), "fd 0 (link)"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":99999999}]`), "are 3 to 6, in a row"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":3}]`), "also given as link"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"","fd":6}]`), "has no name"},
		{h(`"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[{"name":"a","fd":6},{"name":"a","fd":7}]`), "given twice"},
		{h(`"link_fd":-3,"stderr_fd":4,"pipe_fd":5`), "fd -3"},
		{`{"v":2,"role":"process","generation":2,"ancestors":[10],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[` + strings.Repeat(`{"name":"a","fd":6},`, 60000) + `{"name":"b","fd":7}]}`, "more than the"},
	} {
		_, err := parseHandover(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseHandover(%.120s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseHandover(f *testing.F) {
	f.Add(validHandover)
	f.Add(`{"v":2}`)
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
