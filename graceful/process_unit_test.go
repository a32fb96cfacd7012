package graceful

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeSystem is an operating system for the restart state machine's unit
// tests: signals are delivered by the test and children are fakes.
type fakeSystem struct {
	mu       sync.Mutex
	env      map[string]string
	subs     map[os.Signal][]chan<- os.Signal
	specs    []childSpec
	newChild func(n int) *fakeChild
	notes    []string
	alive    map[int]bool
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{env: map[string]string{}, subs: map[os.Signal][]chan<- os.Signal{}, alive: map[int]bool{}}
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

func (f *fakeSystem) activationListeners(*slog.Logger) ([]inheritedListener, error) {
	return nil, nil
}

func (f *fakeSystem) startChild(spec childSpec) (child, error) {
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	n := len(f.specs)
	f.mu.Unlock()
	return f.newChild(n), nil
}

func (f *fakeSystem) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.specs)
}

func (f *fakeSystem) sdNotify(state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, state)
	return nil
}

func (f *fakeSystem) processAlive(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pid]
}

// fakeChild is a next generation whose fate the test decides.
type fakeChild struct {
	id        int
	readyCh   chan struct{}
	exitedCh  chan struct{}
	stopped   chan struct{}
	once      sync.Once
	becomeRdy sync.Once
}

func newFakeChild(id int) *fakeChild {
	return &fakeChild{id: id, readyCh: make(chan struct{}), exitedCh: make(chan struct{}), stopped: make(chan struct{})}
}

func (c *fakeChild) pid() int                { return 100000 + c.id }
func (c *fakeChild) ready() <-chan struct{}  { return c.readyCh }
func (c *fakeChild) exited() <-chan struct{} { return c.exitedCh }
func (c *fakeChild) exitStatus() string      { return "exit status 7" }
func (c *fakeChild) stderrTail() string      { return "fake child's last words" }
func (c *fakeChild) markReady()              { c.becomeRdy.Do(func() { close(c.readyCh) }) }
func (c *fakeChild) exit()                   { c.once.Do(func() { close(c.exitedCh) }) }
func (c *fakeChild) stop(time.Duration) {
	select {
	case <-c.stopped:
	default:
		close(c.stopped)
	}
	c.exit()
}

// unitProcess makes a Process on the fake system with one loopback server.
func unitProcess(t *testing.T, sys *fakeSystem, mutate func(*ProcessConfig)) *Process {
	t.Helper()
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	scfg := testConfig(t, nil)
	if _, err := p.NewServer("127.0.0.1:0", scfg); err != nil {
		t.Fatal(err)
	}
	return p
}

// runProcess runs p and returns Run's result channel.
func runProcess(t *testing.T, p *Process) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	waitFor(t, "the process to run", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.running
	})
	waitFor(t, "the process to report ready", 5*time.Second, func() bool {
		return p.servers[0].Status() == ServerStatusRunning
	})
	return errc
}

func TestUnitRestartSignalsAreCoalesced(t *testing.T) {
	sys := newFakeSystem()
	children := make(chan *fakeChild, 10)
	sys.newChild = func(n int) *fakeChild { c := newFakeChild(n); children <- c; return c }
	p := unitProcess(t, sys, nil)
	errc := runProcess(t, p)
	waitFor(t, "the restart signal to be watched", 5*time.Second, func() bool {
		sys.mu.Lock()
		defer sys.mu.Unlock()
		return len(sys.subs[p.cfg.RestartSignal]) > 0
	})

	sys.deliver(p.cfg.RestartSignal)
	c := <-children
	for range 5 {
		sys.deliver(p.cfg.RestartSignal)
	}
	waitFor(t, "the extra signals to be coalesced", 5*time.Second, func() bool { return len(p.sigCh) == 0 })
	if n := sys.starts(); n != 1 {
		t.Fatalf("%d children started, want 1", n)
	}
	c.markReady()
	if err := <-errc; err != nil {
		t.Fatalf("Run after a handover = %v, want nil", err)
	}
	if n := sys.starts(); n != 1 {
		t.Errorf("%d children started, want 1", n)
	}
	if got := p.servers[0].Status(); got != ServerStatusStopped {
		t.Errorf("the old generation's server is %v after the handover", got)
	}
}

func TestUnitFailedUpgradeThenSuccess(t *testing.T) {
	for _, fail := range []string{"timeout", "exit"} {
		t.Run(fail, func(t *testing.T) {
			sys := newFakeSystem()
			children := make(chan *fakeChild, 10)
			sys.newChild = func(n int) *fakeChild { c := newFakeChild(n); children <- c; return c }
			p := unitProcess(t, sys, func(c *ProcessConfig) { c.UpgradeTimeout = 100 * time.Millisecond })
			errc := runProcess(t, p)

			result := make(chan error, 1)
			go func() { result <- p.Restart(context.Background()) }()
			c := <-children
			if fail == "exit" {
				c.exit()
			}
			err := <-result
			if err == nil || !strings.Contains(err.Error(), "keeps serving") {
				t.Fatalf("Restart = %v, want a failure that says the process keeps serving", err)
			}
			if fail == "timeout" {
				select {
				case <-c.stopped:
				default:
					t.Error("the child that timed out was not stopped")
				}
				if !strings.Contains(err.Error(), "upgrade timeout of 100ms") {
					t.Errorf("timeout error: %v", err)
				}
			} else if !strings.Contains(err.Error(), "exit status 7") {
				t.Errorf("exit error does not give the status: %v", err)
			}
			if p.stopping.Load() {
				t.Fatal("the process stopped serving after a failed restart")
			}
			if n := len(sys.notes); n < 3 || !strings.HasPrefix(sys.notes[n-1], "READY=1\nSTATUS=restart failed") {
				t.Errorf("systemd was not told the reload ended: %q", sys.notes)
			}

			go func() { result <- p.Restart(context.Background()) }()
			c = <-children
			c.markReady()
			if err := <-result; err != nil {
				t.Fatalf("second Restart = %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnitRestartWhileRestarting(t *testing.T) {
	sys := newFakeSystem()
	children := make(chan *fakeChild, 10)
	sys.newChild = func(n int) *fakeChild { c := newFakeChild(n); children <- c; return c }
	p := unitProcess(t, sys, nil)
	errc := runProcess(t, p)
	first := make(chan error, 1)
	go func() { first <- p.Restart(context.Background()) }()
	c := <-children
	if err := p.Restart(context.Background()); !errors.Is(err, ErrRestartInProgress) {
		t.Fatalf("Restart during a restart = %v, want ErrRestartInProgress", err)
	}
	c.markReady()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-errc
	if err := p.Restart(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Restart after the handover = %v, want ErrNotRunning", err)
	}
}

func TestUnitStopSignalAbandonsUpgrade(t *testing.T) {
	sys := newFakeSystem()
	children := make(chan *fakeChild, 10)
	sys.newChild = func(n int) *fakeChild { c := newFakeChild(n); children <- c; return c }
	p := unitProcess(t, sys, nil)
	errc := runProcess(t, p)
	result := make(chan error, 1)
	go func() { result <- p.Restart(context.Background()) }()
	c := <-children
	sys.deliver(syscall.SIGTERM)
	if err := <-result; err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("Restart interrupted by SIGTERM = %v", err)
	}
	select {
	case <-c.stopped:
	default:
		t.Error("the abandoned child was not stopped")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := sys.notes[len(sys.notes)-1]; got != "STOPPING=1" {
		t.Errorf("last notification %q, want STOPPING=1", got)
	}
}

func TestUnitTooManyGenerations(t *testing.T) {
	sys := newFakeSystem()
	sys.newChild = newFakeChild
	p := unitProcess(t, sys, nil)
	p.ancestors = []int{11, 12}
	sys.alive[11], sys.alive[12] = true, true
	errc := runProcess(t, p)
	err := p.Restart(context.Background())
	if !errors.Is(err, ErrTooManyGenerations) || !strings.Contains(err.Error(), "[11 12]") {
		t.Fatalf("Restart with 2 draining generations = %v, want ErrTooManyGenerations naming them", err)
	}
	if n := sys.starts(); n != 0 {
		t.Errorf("%d children started", n)
	}
	sys.mu.Lock()
	sys.alive[11] = false
	sys.mu.Unlock()
	sys.newChild = func(n int) *fakeChild { c := newFakeChild(n); c.markReady(); return c }
	if err := p.Restart(context.Background()); err != nil {
		t.Fatalf("Restart once a generation exited = %v", err)
	}
	<-errc
	if got := sys.specs[0].ancestors; len(got) != 2 || got[0] != 12 || got[1] != p.pid {
		t.Errorf("ancestors handed to the child = %v, want [12 %d]", got, p.pid)
	}
}

func TestUnitEarlyRestartSignalIsIgnored(t *testing.T) {
	sys := newFakeSystem()
	sys.newChild = newFakeChild
	p := unitProcess(t, sys, nil)
	sys.deliver(p.cfg.RestartSignal) // before Run: still starting
	errc := runProcess(t, p)
	sys.deliver(syscall.SIGTERM)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := sys.starts(); n != 0 {
		t.Fatalf("a restart signal received while starting started %d children", n)
	}
}

func TestUnitConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*ProcessConfig)
		want   string
	}{
		{func(c *ProcessConfig) { c.MaxGenerations = 1 }, "at least 2"},
		{func(c *ProcessConfig) { c.Mode = "fork" }, `unknown restart mode "fork"`},
	} {
		cfg := DefaultProcessConfig()
		tc.mutate(&cfg)
		if _, err := newProcess(cfg, newFakeSystem()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewProcess: %v, want %q", err, tc.want)
		}
	}
}

func TestParseHandoverRejectsHostileInput(t *testing.T) {
	valid := `{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"stderr_fd":4,"listeners":[{"name":":8080","fd":5}]}`
	if _, err := parseHandover(valid); err != nil {
		t.Fatalf("valid handover rejected: %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "not a valid handover description"},
		{"{", "not a valid handover description"},
		{`{"v":1} {"v":1}`, "trailing data"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[],"extra":1}`, "unknown field"},
		{`{"v":2,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[]}`, "version 2"},
		{`{"v":1,"generation":1,"ancestors":[10],"ready_fd":3,"listeners":[]}`, "generation 1"},
		{`{"v":1,"generation":2,"ancestors":[],"ready_fd":3,"listeners":[]}`, "no ancestors"},
		{`{"v":1,"generation":2,"ancestors":[1],"ready_fd":3,"listeners":[]}`, "ancestor PID 1"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":0,"listeners":[]}`, "ready pipe fd 0 is out of range"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[{"name":"a","fd":99999999}]}`, "out of range"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[{"name":"a","fd":3}]}`, "also given as ready pipe"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[{"name":"","fd":5}]}`, "has no name"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"listeners":[{"name":"a","fd":5},{"name":"a","fd":6}]}`, "given twice"},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"mode":"x","listeners":[]}`, `unknown mode "x"`},
		{`{"v":1,"generation":2,"ancestors":[10],"ready_fd":-3,"listeners":[{"name":"a","fd":-5}]}`, "fd -5"},
	} {
		_, err := parseHandover(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseHandover(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseHandover(f *testing.F) {
	f.Add(`{"v":1,"generation":2,"ancestors":[10],"ready_fd":3,"stderr_fd":4,"listeners":[{"name":":8080","fd":5}]}`)
	f.Add(`{"v":1}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := parseHandover(in)
		if err != nil {
			return
		}
		if h.ReadyFd < 3 || h.Generation < 2 || len(h.Ancestors) == 0 {
			t.Fatalf("accepted an invalid handover: %+v", h)
		}
		for _, l := range h.Listeners {
			if l.Fd < 3 || l.Fd >= maxHandoverFd || l.Name == "" {
				t.Fatalf("accepted an invalid listener: %+v", l)
			}
		}
	})
}
