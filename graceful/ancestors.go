package graceful

import (
	"slices"
	"time"
)

// awaitAncestors waits, after a final shutdown has drained this
// generation, until the older generations still draining have exited too,
// for at most limit. The newest generation is then the last process of the
// service to exit: a service manager that waits for its main process
// knows that nothing drains any more, and under systemd, which follows
// the newest generation through MAINPID=, it exits as systemd's child, so
// systemd reaps it and records its exit status.
func (p *Process) awaitAncestors(limit time.Duration) {
	if p.role != RoleProcess {
		return // a worker's ancestor is its supervisor, which waits for it
	}
	// Under systemd the ancestors are systemd's children, reaped at once:
	// wait until nothing of them is left, so that systemd, once this
	// process (its main process) exits, finds the cgroup empty and
	// SIGKILLs nothing. Elsewhere a zombie counts as gone, since whoever
	// reaps it may take its time.
	gone := func(pid int) bool { return !p.sys.processAlive(pid) }
	if p.sys.parentIsSystemd() {
		gone = processGone
	}
	live := slices.DeleteFunc(slices.Clone(p.ancestors), gone)
	if len(live) == 0 {
		return
	}
	p.logger.Info("waiting for older generations to finish draining", "pids", live, "limit", limit)
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(live) > 0 && time.Now().Before(deadline) {
		<-tick.C
		live = slices.DeleteFunc(live, gone)
	}
	if len(live) > 0 {
		p.logger.Warn("older generations still running; exiting anyway", "pids", live, "waited", limit)
	}
}

// drainLimit bounds how long a drain of this process's servers may take:
// the longest shutdown timeout, with a second of margin.
func (p *Process) drainLimit() time.Duration {
	limit := 5 * time.Second
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.units {
		if u.srv != nil {
			limit = max(limit, u.srv.config.GracefulShutdownTimeout+time.Second)
		}
	}
	return limit
}
