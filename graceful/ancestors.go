package graceful

import (
	"time"
)

// awaitAncestors waits, after a final shutdown has drained this
// generation, until the older generations still draining have exited too,
// for at most limit; those still there then (stopped, or wedged beyond
// their own drain limit) are killed, on Linux, where a process can be
// seen to hold its lifeline. The newest generation is then the last process of the
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
	// An ancestor is followed by its lifeline, not by its PID: a PID in
	// the handover could name an unrelated process.
	live := p.lineage.liveAncestors()
	if len(live) > 0 {
		pids := make([]int, len(live))
		for i, a := range live {
			pids[i] = a.pid
		}
		p.logger.Info("waiting for older generations to finish draining", "pids", pids, "limit", limit)
		timer := time.NewTimer(limit)
		defer timer.Stop()
		for _, a := range live {
			select {
			case <-a.gone:
			case <-timer.C:
				// Stopped or wedged, beyond its own drain limit: it would
				// hold its sockets for good.
				// One whose own drain has no bound, or a longer one, may
				// still be serving a request: it is left to end on its
				// own.
				p.logger.Error("older generations still running after the drain limit; killing those whose own limit has passed", "pids", pids, "waited", limit)
				for _, a := range live {
					if a.limit <= 0 || a.limit > limit {
						p.logger.Warn("an older generation may drain longer; exiting without it", "pid", a.pid, "its_limit", a.limit)
						continue
					}
					if err := p.lineage.kill(a); err != nil {
						p.logger.Warn("an older generation could not be killed", "pid", a.pid, "error", err)
					}
				}
				return
			}
		}
	}
	if !p.sys.parentIsSystemd() {
		return
	}
	// Once an ancestor's lifeline has ended it is exiting; under systemd
	// wait until nothing of it is left (not even a zombie), at most a
	// second, so that systemd finds the cgroup empty.
	deadline := time.Now().Add(time.Second)
	for _, a := range p.lineage.ancestorsSeen() {
		for !processGone(a.pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
