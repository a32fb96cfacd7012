package graceful

import (
	"syscall"
	"testing"
	"time"
)

// TestUnitShutdownWaitsForDrainingAncestors: the newest generation, on its
// final shutdown, exits only after the older generations that still drain
// (so a service manager that waits for it knows everything is done).
func TestUnitShutdownWaitsForDrainingAncestors(t *testing.T) {
	sys := newFakeSystem()
	p, srv := unitProcess(t, sys, nil)
	p.role = RoleProcess
	p.ancestors = []int{11, 12}
	sys.alive[12] = true // 11 has exited already
	errc := runProcess(t, sys, p, srv)
	sys.deliver(syscall.SIGTERM)
	waitFor(t, "the server to drain", 10*time.Second, func() bool { return srv.Status() == ServerStatusStopped })
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while generation 12 still drains", err)
	default:
	}
	sys.mu.Lock()
	sys.alive[12] = false
	sys.mu.Unlock()
	if err := recvErr(t, errc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
