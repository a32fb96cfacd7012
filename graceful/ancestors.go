package graceful

import "time"

// awaitAncestors waits, after a final shutdown has drained this
// generation, until the older generations that were still draining have
// exited too, for at most [Process.childStopGrace]. The newest generation
// is then the last process of the service to exit: a service manager that
// waits for its main process knows that nothing drains any more, and under
// systemd, which follows the newest generation through MAINPID=, that
// process has been reparented to systemd by then, so systemd reaps it and
// records its exit status instead of finding an unknown "alien" process
// gone.
func (p *Process) awaitAncestors() {
	live := p.liveAncestors()
	if p.worker || len(live) == 0 {
		return // a worker's ancestor is its supervisor, which waits for it
	}
	limit := p.childStopGrace()
	p.logger.Info("waiting for older generations to finish draining", "pids", live, "limit", limit)
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(live) > 0 && time.Now().Before(deadline) {
		<-tick.C
		live = p.liveAncestors()
	}
	if len(live) > 0 {
		p.logger.Warn("older generations still running; exiting anyway", "pids", live, "waited", limit)
	}
}
