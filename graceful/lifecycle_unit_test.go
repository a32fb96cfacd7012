//go:build unix

package graceful

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The lifecycle's unit tests of supervisor mode and of a worker, on the
// fake system: the supervisor's workers are fake processes that speak the
// link protocol; a worker is a real Process whose supervisor the test
// plays over a real link.

// unitSupervisor makes a supervisor on the fake system and runs it; it
// returns the supervisor and the channel its exit code arrives on.
func unitSupervisor(t *testing.T, sys *fakeSystem, logs io.Writer, mutate func(*ProcessConfig)) (*Process, <-chan int) {
	t.Helper()
	sys.endAll(t)
	cfg := DefaultProcessConfig()
	cfg.Mode = RestartModeSupervisor
	cfg.Probation = 0
	cfg.Logger = testLogger(t)
	if logs != nil {
		cfg.Logger = captureLogger(t, logs)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	if p.role != RoleSupervisor {
		t.Fatalf("role %s, want supervisor", p.role)
	}
	code := make(chan int, 1)
	go func() { code <- p.supervise(context.Background()) }()
	return p, code
}

// stopSupervisor stops the supervisor: the serving worker gets "stop"
// and exits.
func stopSupervisor(t *testing.T, sys *fakeSystem, code <-chan int, serving *fakeProc) {
	t.Helper()
	waitFor(t, "the supervisor to catch SIGTERM", 5*time.Second, func() bool { return sys.subscribed(syscall.SIGTERM) })
	sys.deliver(syscall.SIGTERM)
	serving.expect(t, msgStop)
	serving.exit("exit status 0")
	// Older workers, told to stop too, finish their drain.
	sys.mu.Lock()
	procs := slices.Clone(sys.procs)
	sys.mu.Unlock()
	for _, w := range procs {
		w.exit("exit status 0")
	}
	awaitSupervisorExit(t, code)
}

// awaitSupervisorExit waits for the supervisor to exit, with code 0.
func awaitSupervisorExit(t *testing.T, code <-chan int) {
	t.Helper()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("supervisor exit code %d, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not exit")
	}
}

// TestUnitSupervisorStartsNoWorkerNobodyAskedFor: while no worker serves
// and new ones fail (back-off growing), a restart signal starts one at
// once; once it serves, the respawn timer armed meanwhile starts nothing.
// The log never says "still serving" while nothing serves.
func TestUnitSupervisorStartsNoWorkerNobodyAskedFor(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, code := unitSupervisor(t, sys, logs, nil)
	w1 := <-sys.children
	w1.readyWorker(t, nil, nil)
	waitFor(t, "the supervisor to serve", 5*time.Second, func() bool { return strings.Contains(logs.String(), "msg=ready") })
	w1.exit("exit status 1") // crashes
	for range 2 {
		w := <-sys.children // respawns that fail (a broken config)
		w.exit("exit status 1")
	}
	waitFor(t, "the back-off to grow", 5*time.Second, func() bool {
		return strings.Count(logs.String(), "no worker serves; starting another") >= 3
	})
	sys.deliver(p.cfg.RestartSignal) // the config is fixed: restart now
	w4 := <-sys.children
	waitFor(t, "the signal to be taken", 5*time.Second, func() bool { return strings.Contains(logs.String(), "restart requested") })
	// On a machine slow enough that the 400 ms back-off ran out before
	// the signal was taken, worker 4 is the respawn and the signal's
	// restart, asked for, follows it: worker 5.
	serving, want := w4, 4
	w4.readyWorker(t, nil, nil)
	if strings.Contains(logs.String(), "restart requested during a restart") {
		serving, want = <-sys.children, 5
		serving.readyWorker(t, nil, nil)
	}
	waitFor(t, "the new worker to serve", 5*time.Second, func() bool {
		return strings.Count(logs.String(), fmt.Sprintf("msg=\"restart: worker %d is ready\"", want)) == 1
	})
	// The back-off armed last was 400 ms: wait well past it.
	time.Sleep(1200 * time.Millisecond) // a pace: nothing may start meanwhile
	if n := sys.starts(); n != want {
		t.Errorf("%d workers started, want %d: a worker nobody asked for started", n, want)
	}
	if strings.Contains(logs.String(), "still serving") {
		t.Errorf("the log says \"still serving\" while no worker served:\n%s", logs.String())
	}
	stopSupervisor(t, sys, code, serving)
}

// TestUnitSupervisorRollsBackToThePreviousWorker: the new worker dies
// within the probation, or stops answering; the previous one is told to
// serve again.
func TestUnitSupervisorRollsBackToThePreviousWorker(t *testing.T) {
	for _, how := range []string{"dies", "stops answering"} {
		t.Run(how, func(t *testing.T) {
			sys := newFakeSystem()
			p, code := unitSupervisor(t, sys, nil, func(c *ProcessConfig) { c.Probation = time.Hour })
			w1 := <-sys.children
			w1.readyWorker(t, nil, nil)
			waitFor(t, "the supervisor to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
			sys.deliver(p.cfg.RestartSignal)
			w2 := <-sys.children
			w2.readyWorker(t, nil, nil)
			w1.expect(t, msgDrain)
			if how == "dies" {
				w2.exit("exit status 2")
			} else {
				_ = sys.kill(w2.pid(), syscall.SIGSTOP)
			}
			w1.expect(t, msgResume)
			if how != "dies" && !slices.Contains(w2.gotSignals(), syscall.SIGKILL) {
				t.Errorf("the unresponsive worker got %v, want SIGKILL", w2.gotSignals())
			}
			waitFor(t, "the rollback to be counted", 5*time.Second, func() bool { return p.totals.get(totalRollbacks) == 1 })
			stopSupervisor(t, sys, code, w1)
		})
	}
}

// TestUnitSupervisorLetsAnAbandonedAddressGo: a new worker that no longer
// serves an address (the configuration changed it) leaves it to nobody:
// the supervisor closes its copy at the handover and tells the old worker
// which sockets the new one took, so that the address is free to bind
// again at once, not held for the probation.
func TestUnitSupervisorLetsAnAbandonedAddressGo(t *testing.T) {
	sys := newFakeSystem()
	p, code := unitSupervisor(t, sys, nil, func(c *ProcessConfig) { c.Probation = time.Hour })
	lnP, lnQ := listenLoopback(t), listenLoopback(t)
	addrP := lnP.Addr().String()
	w1 := <-sys.children
	w1.readyWorker(t, nil, nil, lnP)
	lnP.Close() // the supervisor holds P now
	waitFor(t, "the supervisor to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	w2 := <-sys.children
	if len(w2.h.Sockets) != 1 || w2.h.Sockets[0].Name != addrP {
		t.Fatalf("the new worker was given %+v, want P", w2.h.Sockets)
	}
	w2.readyWorker(t, nil, []string{addrP}, lnQ) // serves Q, not P
	m := w1.expect(t, msgDrain)
	if names := socketNames(m.Sockets); len(names) != 1 || names[0] != lnQ.Addr().String() {
		t.Errorf("drain names the new worker's sockets %v, want only Q", names)
	}
	// The fake workers hold no copy of P: once the supervisor has let
	// its own go, P binds again.
	waitBindable(t, "P to be free", addrP)
	lnQ.Close()
	stopSupervisor(t, sys, code, w2)
}

// TestUnitSupervisorRollbackLetsTheDeadWorkersAddressGo: a new worker
// that serves a new address (Q) dies within the probation; the previous
// worker, which serves P, serves again, and the supervisor closes its
// copy of Q: nobody serves Q, so it must not queue connections, and a
// later worker must be able to bind it.
func TestUnitSupervisorRollbackLetsTheDeadWorkersAddressGo(t *testing.T) {
	sys := newFakeSystem()
	p, code := unitSupervisor(t, sys, nil, func(c *ProcessConfig) { c.Probation = time.Hour })
	w1, _, addrQ := rollBackAfterAddressChange(t, sys, p)
	waitBindable(t, "Q to be free", addrQ)
	stopSupervisor(t, sys, code, w1)
}

// rollBackAfterAddressChange runs a supervisor's first worker on P; a
// restart's new worker serves Q and not P, and dies within the
// probation, so that the first is told to serve again. It returns the
// first worker and the two addresses.
func rollBackAfterAddressChange(t *testing.T, sys *fakeSystem, p *Process) (w1 *fakeProc, addrP, addrQ string) {
	t.Helper()
	lnP, lnQ := listenLoopback(t), listenLoopback(t)
	addrP, addrQ = lnP.Addr().String(), lnQ.Addr().String()
	w1 = <-sys.children
	w1.readyWorker(t, nil, nil, lnP)
	lnP.Close() // the supervisor holds P now
	waitFor(t, "the supervisor to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	w2 := <-sys.children
	w2.readyWorker(t, nil, []string{addrP}, lnQ) // serves Q, not P
	lnQ.Close()                                  // the supervisor and w2 hold Q now
	w1.expect(t, msgDrain)
	w2.exit("exit status 2")
	w1.expect(t, msgResume)
	return w1, addrP, addrQ
}

// TestUnitSupervisorHoldsWhatARolledBackWorkerBindsAgain: a worker rolled
// back to binds again the address its successor had dropped (the
// supervisor let go of it at the handover) and passes the socket on; the
// supervisor holds it and gives it to the next worker, which would
// otherwise find the address taken by the worker it replaces.
func TestUnitSupervisorHoldsWhatARolledBackWorkerBindsAgain(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, code := unitSupervisor(t, sys, logs, func(c *ProcessConfig) { c.Probation = time.Hour })
	w1, addrP, _ := rollBackAfterAddressChange(t, sys, p)
	// w1 binds P again, as localGen.resume does, and passes it on.
	waitBindable(t, "P to be free", addrP)
	again, err := net.Listen("tcp", addrP)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	fd, err := dupSocket(again)
	if err != nil {
		t.Fatal(err)
	}
	w1.send(t, linkMsg{Type: msgResumed, PID: w1.pid(), Sockets: []handoverSocket{{Name: addrP, Fd: 0}}}, fd)
	closeFd(fd)
	waitFor(t, "the supervisor to hold P again", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "holding the sockets the worker serves again")
	})
	sys.deliver(p.cfg.RestartSignal)
	w3 := <-sys.children
	i := slices.IndexFunc(w3.h.Sockets, func(s handoverSocket) bool { return s.Name == addrP })
	if i < 0 {
		t.Fatalf("the next worker is given %v, not P (%s)", socketNames(w3.h.Sockets), addrP)
	}
	if addr, _, err := inspectSocket(w3.sockFds[i]); err != nil || addr.String() != addrP {
		t.Fatalf("the next worker's P is %v (%v), want a socket listening on %s", addr, err, addrP)
	}
	w3.readyWorker(t, nil, nil)
	w1.expect(t, msgDrain)
	stopSupervisor(t, sys, code, w3)
}

// TestUnitSupervisorDistrustsTheSocketsAWorkerPasses: a worker's
// resumed message that names one socket twice, passes a descriptor that
// no socket names, and points past its descriptors leaves the supervisor
// holding the first socket of that name only, every other descriptor
// closed, and the next worker started with a valid handover.
func TestUnitSupervisorDistrustsTheSocketsAWorkerPasses(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, code := unitSupervisor(t, sys, logs, func(c *ProcessConfig) { c.Probation = time.Hour })
	w1 := <-sys.children
	w1.readyWorker(t, nil, nil)
	first, second := listenLoopback(t), listenLoopback(t)
	defer first.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var fds []int
	for _, ln := range []net.Listener{first, second} {
		fd, err := dupSocket(ln)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	w1.send(t, linkMsg{Type: msgResumed, PID: w1.pid(), Sockets: []handoverSocket{
		{Name: "twice", Fd: 0}, {Name: "twice", Fd: 1}, {Name: "beyond", Fd: 7},
	}}, append(fds, int(r.Fd()))...)
	// This process's copies go: only the supervisor's may be left.
	closeFd(fds[0])
	closeFd(fds[1])
	addr2 := second.Addr().String()
	second.Close()
	r.Close()
	waitFor(t, "the supervisor to hold the socket", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "holding the sockets the worker serves again")
	})
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("the descriptor no socket named is still open in the supervisor")
	}
	if c, err := net.DialTimeout("tcp", addr2, time.Second); err == nil {
		c.Close()
		t.Error("the second socket named twice is still open in the supervisor")
	}
	waitFor(t, "the supervisor to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	var w2 *fakeProc
	select {
	case w2 = <-sys.children:
	case <-time.After(10 * time.Second):
		t.Fatalf("no new worker started:\n%s", logs.String())
	}
	if got := socketNames(w2.h.Sockets); !slices.Equal(got, []string{"twice"}) {
		t.Fatalf("the next worker is given %v, want [twice]", got)
	}
	w2.readyWorker(t, nil, nil)
	w1.expect(t, msgDrain)
	stopSupervisor(t, sys, code, w2)
}

// TestUnitSupervisorKillsAWorkerThatDoesNotExit: a worker told to stop
// (or released after a handover) that has not exited within the stop
// limit it reported, and as much again, is killed: a stopped or wedged
// worker no longer keeps its sockets and the supervisor for good.
func TestUnitSupervisorKillsAWorkerThatDoesNotExit(t *testing.T) {
	for _, how := range []string{"stop", "release"} {
		t.Run(how, func(t *testing.T) {
			sys := newFakeSystem()
			logs := &syncBuffer{}
			p, code := unitSupervisor(t, sys, logs, nil) // probation 0: released at the handover
			w1 := <-sys.children
			w1.send(t, linkMsg{Type: msgReady, PID: w1.pid(), StopLimit: 20 * time.Millisecond})
			_ = w1.stderr.Close()
			waitFor(t, "the first worker to serve", 5*time.Second, func() bool { return strings.Contains(sys.lastNote(), "serving (worker 1,") })
			if how == "release" {
				sys.deliver(p.cfg.RestartSignal)
				w2 := <-sys.children
				w2.readyWorker(t, nil, nil)
				w1.expect(t, msgRelease) // and w1 does not exit
				select {
				case <-w1.exited():
				case <-time.After(10 * time.Second):
					t.Fatalf("the released worker was not killed:\n%s", logs.String())
				}
				stopSupervisor(t, sys, code, w2)
			} else {
				sys.deliver(syscall.SIGTERM)
				w1.expect(t, msgStop) // and w1 does not exit
				select {
				case c := <-code:
					if c != 1 {
						t.Errorf("supervisor exit code %d, want 1 (its worker was killed)", c)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the supervisor did not exit:\n%s", logs.String())
				}
			}
			if sigs := w1.gotSignals(); !slices.Contains(sigs, syscall.SIGKILL) {
				t.Errorf("the worker got %v, want SIGKILL", sigs)
			}
			if !strings.Contains(logs.String(), "has not exited within its stop limit; killing it") {
				t.Error("the kill is not logged")
			}
		})
	}
}

// TestUnitSupervisorRemovesTheUnixSocketFilesAtItsStop: the files of the
// unix sockets the serving worker used are removed once the supervisor
// has stopped, as the last generation of a re-exec service removes
// them.
func TestUnitSupervisorRemovesTheUnixSocketFilesAtItsStop(t *testing.T) {
	sys := newFakeSystem()
	_, code := unitSupervisor(t, sys, nil, nil)
	path := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	w1 := <-sys.children
	w1.readyWorker(t, nil, nil, ln)
	ln.Close() // the supervisor holds it now; the file stays
	waitFor(t, "the worker to serve", 5*time.Second, func() bool { return strings.Contains(sys.lastNote(), "serving (worker 1,") })
	stopSupervisor(t, sys, code, w1)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket file after the stop: %v, want it removed", err)
	}
}

// TestUnitSupervisorPassesASecondStopSignalOverTheLink: the second stop
// signal a supervisor gets reaches its serving worker as a second stop
// message, which cuts its shutdown delay short: the worker ignores stop
// signals while its supervisor is there.
func TestUnitSupervisorPassesASecondStopSignalOverTheLink(t *testing.T) {
	sys := newFakeSystem()
	_, code := unitSupervisor(t, sys, nil, nil)
	w1 := <-sys.children
	w1.readyWorker(t, nil, nil)
	waitFor(t, "the worker to serve", 5*time.Second, func() bool { return strings.Contains(sys.lastNote(), "serving (worker 1,") })
	waitFor(t, "the supervisor to catch SIGTERM", 5*time.Second, func() bool { return sys.subscribed(syscall.SIGTERM) })
	sys.deliver(syscall.SIGTERM)
	w1.expect(t, msgStop)
	sys.deliver(syscall.SIGINT)
	w1.expect(t, msgStop)
	if sigs := w1.gotSignals(); len(sigs) != 0 {
		t.Errorf("the worker got the signals %v, want none (messages only)", sigs)
	}
	w1.exit("exit status 0")
	awaitSupervisorExit(t, code)
}

// TestUnitSupervisorPassesFilesOn: a file a worker passes on reaches the
// next worker in its state, with a working descriptor.
func TestUnitSupervisorPassesFilesOn(t *testing.T) {
	sys := newFakeSystem()
	p, code := unitSupervisor(t, sys, nil, func(c *ProcessConfig) { c.Probation = time.Hour })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	w1 := <-sys.children
	w1.readyWorker(t, map[string]*os.File{"forward": w}, nil)
	waitFor(t, "the supervisor to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	w2 := <-sys.children
	if len(w2.state.Files) != 1 || w2.state.Files[0].Name != "forward" || w2.state.Files[0].PID != w1.pid() || len(w2.stateFds) != 1 {
		t.Fatalf("the new worker's state passes %+v (%d descriptors), want the old worker's file", w2.state.Files, len(w2.stateFds))
	}
	if _, err := syscall.Write(w2.stateFds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v through the passed file", b, err)
	}
	if len(w2.state.Secret) != secretSize || string(w2.state.Secret) != string(w1.state.Secret) {
		t.Error("the workers were not given the same secret")
	}
	w2.readyWorker(t, nil, nil)
	w1.expect(t, msgDrain)
	w1.exit("exit status 0")
	stopSupervisor(t, sys, code, w2)
}

// TestUnitWorkerExitingDuringARestartLeavesItsFilesValid: a worker that
// exits while the next one starts has the files it passed closed by the
// supervisor; the next worker still gets them, with working descriptors,
// not closed ones or numbers reused meanwhile by another file.
func TestUnitWorkerExitingDuringARestartLeavesItsFilesValid(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	p, code := unitSupervisor(t, sys, logs, nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	w1 := <-sys.children
	w1.readyWorker(t, map[string]*os.File{"forward": w}, nil)
	waitFor(t, "the first worker to serve", 5*time.Second, func() bool { return strings.Contains(sys.lastNote(), "serving (worker 1,") })
	sys.mu.Lock()
	sys.beforeStart = func() {
		w1.exit("exit status 1")
		// The supervisor closes its files before it logs the exit.
		waitFor(t, "the supervisor to see the worker exit", 5*time.Second, func() bool {
			return strings.Contains(logs.String(), "the serving worker exited")
		})
		other, err := os.Open(os.DevNull)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { other.Close() })
	}
	sys.mu.Unlock()
	sys.deliver(p.cfg.RestartSignal)
	var w2 *fakeProc
	select {
	case w2 = <-sys.children:
	case <-time.After(10 * time.Second):
		t.Fatalf("no new worker started:\n%s", logs.String())
	}
	if len(w2.state.Files) != 1 || w2.state.Files[0].Name != "forward" || len(w2.stateFds) != 1 {
		t.Fatalf("the new worker's state passes %+v (%d descriptors), want the old worker's file", w2.state.Files, len(w2.stateFds))
	}
	if !sameFile(t, w2.stateFds[0], statOf(t, int(w.Fd()))) {
		t.Error("the new worker got another file than the one passed on")
	}
	w2.readyWorker(t, nil, nil)
	waitFor(t, "the new worker to serve", 5*time.Second, func() bool { return strings.Contains(sys.lastNote(), "serving (worker 2,") })
	stopSupervisor(t, sys, code, w2)
}

// unitWorker makes a worker Process whose supervisor the test plays over
// a real link; it returns the process, its server, and the supervisor's
// end of the link.
func unitWorker(t *testing.T, probation time.Duration) (*fakeSystem, *Process, *Server, *link) {
	t.Helper()
	sys, p, srv, sup := unitStarted(t, RoleWorker, probation)
	if p.role != RoleWorker {
		t.Fatalf("role %s, want worker", p.role)
	}
	return sys, p, srv, sup
}

// unitStarted makes a Process of role (a worker, or a re-exec successor)
// whose parent the test plays over a real link; it returns the process,
// its server, and the parent's end of the link. A successor's handover
// would name its parent's lifeline as descriptor 6, which a test cannot
// promise to have free: it is made from a worker's handover, and then
// given its role, which is what its lifecycle goes by (its parent has no
// lifeline: as if it had exited already).
func unitStarted(t *testing.T, role Role, probation time.Duration) (*fakeSystem, *Process, *Server, *link) {
	t.Helper()
	sys, sup := handedOverSystem(t)
	if err := sup.send(linkMsg{Type: msgState, PID: os.Getpid(), Secret: make([]byte, secretSize)}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	cfg.Probation = probation
	cfg.ReadinessPath = "/ready"
	p, err := newProcess(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	p.role = role
	srv, err := p.NewServer("127.0.0.1:0", testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	if err != nil {
		t.Fatal(err)
	}
	return sys, p, srv, sup
}

// handedOverSystem returns a fake system in which the process was started
// by a handover (as a worker: its supervisor has no lifeline), and the
// starting process's end of the link, on which nothing is sent yet.
func handedOverSystem(t *testing.T) (*fakeSystem, *link) {
	t.Helper()
	fds, err := socketpairCloexec(syscall.AF_UNIX, syscall.SOCK_SEQPACKET)
	if err != nil {
		t.Fatal(err)
	}
	parent, err := openLink(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(parent.close)
	mine, err := openLink(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	sys := newFakeSystem()
	sys.env[HandoverEnv] = `{"v":4,"role":"worker","generation":2,"ancestors":[{"pid":1,"lifeline":-1}],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[]}`
	sys.inheritLink = mine
	return sys, parent
}

// recvType reads messages from l until one of type typ, closing any
// descriptors.
func recvType(t *testing.T, l *link, typ string) linkMsg {
	t.Helper()
	for {
		m, fds, err := l.recv()
		for _, fd := range fds {
			closeFd(fd)
		}
		if err != nil {
			t.Fatalf("waiting for %q: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

// TestUnitWorkerDoesWhatItsSupervisorSays: a worker drains when told,
// serves again with the same *Server when told to resume, and exits once
// released after its drain.
func TestUnitWorkerDoesWhatItsSupervisorSays(t *testing.T) {
	_, p, srv, sup := unitWorker(t, time.Hour)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	ready := recvType(t, sup, msgReady)
	if len(ready.Sockets) != 1 || ready.Sockets[0].Fd != 0 {
		t.Fatalf("ready %+v, want its one socket passed", ready)
	}
	drain := linkMsg{Type: msgDrain}
	for _, s := range ready.Sockets {
		drain.Sockets = append(drain.Sockets, handoverSocket{Name: s.Name, Fd: -1})
	}
	if err := sup.send(drain); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	if err := sup.send(linkMsg{Type: msgResume}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rollback", 5*time.Second, func() bool { return srv.Status() == ServerStatusRunning })
	if code, body, err := get("http://" + srv.GetListenedAddress() + "/ready"); err != nil || code != 200 {
		t.Fatalf("after the rollback: %d %q %v", code, body, err)
	}
	if err := sup.send(linkMsg{Type: msgDrain}); err != nil {
		t.Fatal(err)
	}
	if err := sup.send(linkMsg{Type: msgRelease}); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitWorkerLeavesItsStopToItsSupervisor: a stop signal that reaches
// a worker, sent to its process group or to it alone, is ignored while
// its supervisor is there: the worker serves on and stays ready, and
// stops, as the last generation, when its supervisor says.
func TestUnitWorkerLeavesItsStopToItsSupervisor(t *testing.T) {
	sys, p, srv, sup := unitWorker(t, time.Hour)
	var logs syncBuffer
	p.logger = captureLogger(t, &logs)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	recvType(t, sup, msgReady)
	sys.deliver(syscall.SIGTERM)
	sys.deliver(syscall.SIGINT)
	waitFor(t, "the worker to say it ignored both stop signals", 5*time.Second, func() bool {
		return strings.Count(logs.String(), "stop signal ignored: the supervisor stops workers") == 2
	})
	if p.Stopping() || srv.Status() != ServerStatusRunning {
		t.Fatalf("after the stop signals: stopping %v, server %v; want serving\n%s", p.Stopping(), srv.Status(), logs.String())
	}
	if code, body, err := get("http://" + srv.GetListenedAddress() + "/ready"); err != nil || code != 200 {
		t.Fatalf("readiness after the stop signals: %d %q %v", code, body, err)
	}
	if err := sup.send(linkMsg{Type: msgStop}); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(logs.String(), "final=true") || strings.Contains(logs.String(), "cut short") {
		t.Errorf("the supervisor's stop did not drain the worker as the last generation:\n%s", logs.String())
	}
}

// TestUnitSuccessorTakesTheSignalsItsParentPassesOn: a re-exec successor
// restarts when its previous generation passes a restart signal on, and
// stops when it passes a stop signal on; a stop passed on is not a
// signal of this process's own, so the first one it gets does not cut
// the shutdown delay short, and a second one does.
func TestUnitSuccessorTakesTheSignalsItsParentPassesOn(t *testing.T) {
	sys, p, srv, parent := unitStarted(t, RoleProcess, time.Hour)
	var logs syncBuffer
	p.logger = captureLogger(t, &logs)
	p.cfg.ShutdownDelay = time.Hour
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	recvType(t, parent, msgReady)
	if err := parent.send(linkMsg{Type: msgRestart, PID: 1}); err != nil {
		t.Fatal(err)
	}
	var c *fakeProc
	select {
	case c = <-sys.children: // the restart the signal asked for
	case <-time.After(10 * time.Second):
		t.Fatalf("the restart signal passed on started no restart:\n%s", logs.String())
	}
	c.exit("exit status 1")
	waitFor(t, "the restart to fail", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "restart failed; still serving")
	})
	if err := parent.send(linkMsg{Type: msgStop, PID: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shutdown delay", 5*time.Second, func() bool { return p.Stopping() })
	sys.deliver(syscall.SIGTERM)
	waitFor(t, "its own first stop signal to let the stop go on", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "the stop under way goes on")
	})
	if srv.Status() != ServerStatusRunning {
		t.Fatalf("the first stop signal of its own cut the shutdown delay short:\n%s", logs.String())
	}
	sys.deliver(syscall.SIGINT)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitALaterGenerationAdoptedByAContainerInitRestarts: a later
// re-exec generation whose parent, once the older ones have exited, is a
// container init that adopted it (the init started a shell, which
// started the first generation) restarts: only the first generation's
// parent started the service, and ends the container with it.
func TestUnitALaterGenerationAdoptedByAContainerInitRestarts(t *testing.T) {
	sys, p, _, parent := unitStarted(t, RoleProcess, 0)
	sys.container = "its parent is PID 1, tini, a container init that ends the container when its child exits"
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	recvType(t, parent, msgReady)
	parent.close() // the previous generation has exited
	waitFor(t, "the process to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	select {
	case c := <-sys.children:
		c.exit("exit status 1")
	case <-time.After(10 * time.Second):
		t.Fatal("the restart of a later generation was refused")
	}
	sys.deliver(syscall.SIGTERM)
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitWorkerPassesOnWhatItBindsAgainInARollback: a worker whose
// successor dropped its address closes the socket (the address is free
// at once); rolled back to, it binds the address again, serves it, and
// passes the new socket to its supervisor, which holds it for the next
// worker.
func TestUnitWorkerPassesOnWhatItBindsAgainInARollback(t *testing.T) {
	_, p, srv, sup := unitWorker(t, time.Hour)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	recvType(t, sup, msgReady)
	addr := srv.GetListenedAddress()
	if err := sup.send(linkMsg{Type: msgDrain, Sockets: []handoverSocket{}}); err != nil { // the successor took none
		t.Fatal(err)
	}
	waitBindable(t, "the worker to let its address go", addr)
	if err := sup.send(linkMsg{Type: msgResume}); err != nil {
		t.Fatal(err)
	}
	type received struct {
		m   linkMsg
		fds []int
		err error
	}
	got := make(chan received, 1)
	go func() {
		for {
			m, fds, err := sup.recv()
			if err != nil || m.Type == msgResumed {
				got <- received{m, fds, err}
				return
			}
			for _, fd := range fds {
				closeFd(fd)
			}
		}
	}()
	var r received
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q message within 10s of the rollback", msgResumed)
	}
	m, fds := r.m, r.fds
	if r.err != nil {
		t.Fatalf("waiting for %q: %v", msgResumed, r.err)
	}
	for _, fd := range fds {
		defer closeFd(fd)
	}
	if len(m.Sockets) != 1 || m.Sockets[0].Fd != 0 || len(fds) != 1 {
		t.Fatalf("resumed names %+v with %d descriptors, want the one socket it serves", m.Sockets, len(fds))
	}
	if got, _, err := inspectSocket(fds[0]); err != nil || got.String() != addr {
		t.Fatalf("the socket passed on listens on %v (%v), want %s", got, err, addr)
	}
	if code, body, err := get("http://" + addr + "/ready"); err != nil || code != 200 {
		t.Fatalf("after the rollback: %d %q %v", code, body, err)
	}
	if err := sup.send(linkMsg{Type: msgStop}); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitWorkerWithManyServersReportsReady: a worker with more sockets
// than one sendmsg may pass (the kernel's bound is 253) passes them all
// to its supervisor with its ready message, which arrives in parts.
func TestUnitWorkerWithManyServersReportsReady(t *testing.T) {
	_, p, _, sup := unitWorker(t, 0)
	const n = 300
	for i := 1; i < n; i++ {
		// One address each: 127.0.x.y, each on a port of its own.
		if _, err := p.NewServer(fmt.Sprintf("127.0.%d.%d:0", i/250, i%250+1), testConfig(t, nil)); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	ready, fds, err := sup.recv()
	for _, fd := range fds {
		closeFd(fd)
	}
	if err != nil || ready.Type != msgReady || len(ready.Sockets) != n || len(fds) != n {
		t.Fatalf("%q with %d sockets and %d descriptors (%v), want ready with %d of each", ready.Type, len(ready.Sockets), len(fds), err, n)
	}
	if err := sup.send(linkMsg{Type: msgStop}); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitWorkerStopsAsTheLastGenerationWhenToldTo: "stop" from the
// supervisor is a final stop (Run returns); the supervisor's link closing
// stops the worker too.
func TestUnitWorkerStopsAsTheLastGenerationWhenToldTo(t *testing.T) {
	for _, how := range []string{"stop", "supervisor gone"} {
		t.Run(how, func(t *testing.T) {
			_, p, srv, sup := unitWorker(t, 0)
			errc := make(chan error, 1)
			go func() { errc <- p.Run(context.Background()) }()
			recvType(t, sup, msgReady)
			if how == "stop" {
				if err := sup.send(linkMsg{Type: msgStop}); err != nil {
					t.Fatal(err)
				}
			} else {
				sup.close()
			}
			if err := recvErr(t, errc, 10*time.Second); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if !p.finalStop.Load() || srv.Status() != ServerStatusStopped {
				t.Errorf("final %v, server %v", p.finalStop.Load(), srv.Status())
			}
		})
	}
}

// notesWith returns the sd_notify messages sent so far that hold line.
func (f *fakeSystem) notesWith(line string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notes {
		if slices.Contains(strings.Split(n, "\n"), line) {
			out = append(out, n)
		}
	}
	return out
}

// TestUnitSystemdFollowsASuccessorOnceTheProbationIsOver: systemd's main
// process (MAINPID=) moves to a new generation only once the probation
// of the one it took over from is over. A new generation that dies within
// the probation is then not systemd's main process, whose death systemd
// takes for the service's failure: under systemd 257, a reload and a
// kill -9 of the new process left the unit failed, the generation that
// had rolled back stopped with it.
func TestUnitSystemdFollowsASuccessorOnceTheProbationIsOver(t *testing.T) {
	sys := newFakeSystem()
	sys.endAll(t)
	sys.env["NOTIFY_SOCKET"] = "/run/systemd/notify"
	p, srv := unitProcess(t, sys, func(c *ProcessConfig) { c.Probation = time.Hour })
	errc := runProcess(t, sys, p, srv)

	// A successor that dies within the probation never was systemd's
	// main process; the generation that serves again still is.
	sys.deliver(p.cfg.RestartSignal)
	c1 := <-sys.children
	c1.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	if n := sys.notesWith(fmt.Sprintf("MAINPID=%d", c1.pid())); len(n) > 0 {
		t.Fatalf("systemd was told to follow the successor within the probation: %q", n)
	}
	c1.exit("signal: killed")
	waitFor(t, "the rollback", 5*time.Second, func() bool { return p.totals.get(totalRollbacks) == 1 })

	// Once the probation is over (here: the successor was asked to
	// stop, or handed over in turn), systemd follows the successor, and
	// the successor is told so, after systemd.
	sys.deliver(p.cfg.RestartSignal)
	c2 := <-sys.children
	c2.ready(t)
	waitFor(t, "the handover", 5*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	if n := sys.notesWith(fmt.Sprintf("MAINPID=%d", c2.pid())); len(n) > 0 {
		t.Fatalf("systemd was told to follow the successor within the probation: %q", n)
	}
	c2.send(t, linkMsg{Type: msgReleased, PID: c2.pid()})
	c2.expect(t, msgMain)
	if n := sys.notesWith(fmt.Sprintf("MAINPID=%d", c2.pid())); len(n) != 1 {
		t.Fatalf("after the probation, MAINPID= naming the successor was sent %d times, want once before the main message", len(n))
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitASuccessorPassesOnSystemdsMainProcess: a new generation tells
// systemd READY=1 but not MAINPID=; one that has handed over in turn and
// drained before its predecessor passed systemd's main process on waits
// for that, passes it on to its own successor, and only then exits:
// exiting first, it would leave systemd following a process that is gone
// once the predecessor exits.
func TestUnitASuccessorPassesOnSystemdsMainProcess(t *testing.T) {
	sys, p, _, parent := unitStarted(t, RoleProcess, 0)
	sys.endAll(t)
	sys.env["NOTIFY_SOCKET"] = "/run/systemd/notify"
	var logs syncBuffer
	p.logger = captureLogger(t, &logs)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	recvType(t, parent, msgReady)
	if n := sys.notesWith("READY=1"); len(n) != 1 {
		t.Fatalf("READY=1 sent %d times at ready, want once", len(n))
	}
	if n := sys.notesWith(fmt.Sprintf("MAINPID=%d", p.pid)); len(n) > 0 {
		t.Fatalf("the new generation named itself systemd's main process at ready: %q", n)
	}

	// It hands over in turn, with no probation, and drains at once.
	waitFor(t, "the process to catch the restart signal", 5*time.Second, func() bool { return sys.subscribed(p.cfg.RestartSignal) })
	sys.deliver(p.cfg.RestartSignal)
	c := <-sys.children
	c.ready(t)
	recvType(t, parent, msgReleased)
	waitFor(t, "the drained generation to wait", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "waiting for the previous generation to pass on systemd's main process")
	})
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) before systemd's main process was passed on:\n%s", err, logs.String())
	default:
	}
	if err := parent.send(linkMsg{Type: msgMain}); err != nil {
		t.Fatal(err)
	}
	c.expect(t, msgMain)
	if n := sys.notesWith(fmt.Sprintf("MAINPID=%d", c.pid())); len(n) != 1 {
		t.Fatalf("MAINPID= naming its successor was sent %d times, want once", len(n))
	}
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestUnitALogReaderGoneDoesNotEndTheProcess: a Process catches SIGPIPE,
// so that a log line written to a standard error whose reader is gone
// (`2>&1 | logger`, and the logger died) fails with EPIPE instead of
// ending the process: Go's default. Found from outside: the next restart
// signal's log line killed the service (SIGPIPE, 549 refused).
func TestUnitALogReaderGoneDoesNotEndTheProcess(t *testing.T) {
	sys := newFakeSystem()
	unitProcess(t, sys, nil)
	if !sys.subscribed(syscall.SIGPIPE) {
		t.Fatal("SIGPIPE is not caught: a write to a standard error whose reader is gone ends the process")
	}
}

// TestUnitAHandoverLinkOnWhichNothingComesIsAnError: a handover whose
// link is a socket nobody speaks on (a forged description) fails the
// start once the upgrade timeout is over, naming the variable, instead of hanging in
// NewProcess for good; and a link that is not a SOCK_SEQPACKET socket is
// refused at once.
func TestUnitAHandoverLinkOnWhichNothingComesIsAnError(t *testing.T) {
	sys, _ := handedOverSystem(t) // the parent's end stays silent
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	cfg.UpgradeTimeout = 100 * time.Millisecond
	begin := time.Now()
	_, err := newProcess(cfg, sys)
	if err == nil || !strings.Contains(err.Error(), "no state came") || !strings.Contains(err.Error(), HandoverEnv) {
		t.Fatalf("newProcess with a silent link = %v, want an error naming %s", err, HandoverEnv)
	}
	t.Logf("refused after %s: %v", time.Since(begin).Round(time.Millisecond), err)

	stream, err := socketpairCloexec(syscall.AF_UNIX, syscall.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFd(stream[1])
	if l, err := openLink(stream[0]); err == nil || !strings.Contains(err.Error(), "SOCK_SEQPACKET") {
		if l != nil {
			l.close()
		}
		t.Fatalf("openLink of a stream socket = %v, want an error", err)
	}
}

// TestUnitAWrapperThatDoesNotExecIsRefused: a new process that is not the
// one its parent started (a wrapper script ran the program without exec,
// so the parent's child is the shell) fails its start, saying so, before
// it serves. It used to serve beside the old generation, put its PID in
// the PID file, and then be killed as a leftover of a restart that never
// became ready: a PID file naming a dead process, and requests lost.
func TestUnitAWrapperThatDoesNotExecIsRefused(t *testing.T) {
	sys, parent := handedOverSystem(t)
	// The parent started the wrapper, whose PID is not this process's.
	if err := parent.send(linkMsg{Type: msgState, PID: os.Getpid() + 1, Secret: make([]byte, secretSize)}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultProcessConfig()
	cfg.Logger = testLogger(t)
	_, err := newProcess(cfg, sys)
	if err == nil || !strings.Contains(err.Error(), "without exec") {
		t.Fatalf("newProcess started by a wrapper = %v, want an error that says to exec", err)
	}
}
