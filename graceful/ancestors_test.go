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
	sys.newChild = newFakeChild
	p := unitProcess(t, sys, nil)
	p.ancestors = []int{11, 12}
	sys.alive[12] = true // 11 has exited already
	errc := runProcess(t, p)
	sys.deliver(syscall.SIGTERM)
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while generation 12 still drains", err)
	case <-time.After(300 * time.Millisecond):
	}
	sys.mu.Lock()
	sys.alive[12] = false
	sys.mu.Unlock()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return once the older generation exited")
	}
}
