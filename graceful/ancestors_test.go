//go:build unix

package graceful

import (
	"syscall"
	"testing"
	"time"
)

// TestUnitShutdownWaitsForDrainingAncestors: the newest generation, on its
// final shutdown, exits only after the older generations that still drain
// (so a service manager that waits for it knows everything is done). It
// follows them by their lifelines, not their PIDs.
func TestUnitShutdownWaitsForDrainingAncestors(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	ws := liveAncestors(t, p, 2)
	closeFd(ws[0]) // one has exited already
	errc := runProcess(t, sys, p, srv)
	sys.deliver(syscall.SIGTERM)
	waitFor(t, "the server to drain", 10*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while an older generation still drains", err)
	case <-time.After(100 * time.Millisecond): // a pace: Run must still wait
	}
	closeFd(ws[1])
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestUnitAForgedAncestorIsNotWaitedFor: an ancestor named by the PID of
// a process that runs and will not exit (here the test itself) but whose
// lifeline has ended is not waited for: a handover cannot make a stop
// hang by naming an unrelated process.
func TestUnitAForgedAncestorIsNotWaitedFor(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	r, w, err := pipeCloexec()
	if err != nil {
		t.Fatal(err)
	}
	closeFd(w)
	p.lineage.watchAncestors([]*lifeline{{pid: syscall.Getpid(), generation: 1, fd: r, gone: make(chan struct{})}})
	errc := runProcess(t, sys, p, srv)
	sys.deliver(syscall.SIGTERM)
	if err := recvErr(t, errc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
