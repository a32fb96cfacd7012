package graceful

import (
	"time"
)

// awaitAncestors waits, after a final shutdown has drained this
// generation, until the older generations still draining have exited too:
// for limit, or until the drain limit each passed down is over if that is
// later. One still there then whose drain limit is over is stopped or
// wedged, and is killed (see endAncestors); one with no limit is left to
// end on its own. The newest generation is then the last process of the
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
		// The wait ends at limit, or later, once the drain limit of each
		// older generation that has one is over, counted from this
		// generation's stop (each began its drain before): one still
		// there then is stopped or wedged.
		began := p.stopBegan
		if began.IsZero() {
			began = time.Now()
		}
		deadline := time.Now().Add(limit)
		for i, a := range live {
			pids[i] = a.pid
			if a.limit > 0 && began.Add(a.limit).After(deadline) {
				deadline = began.Add(a.limit)
			}
		}
		p.logger.Info("waiting for older generations to finish draining", "pids", pids, "limit", time.Until(deadline).Round(time.Millisecond))
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
	wait:
		for _, a := range live {
			select {
			case <-a.gone:
			case <-timer.C:
				p.endAncestors(live, began)
				break wait
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

// endAncestors deals with the older generations still there once the
// wait for them is over: one whose own drain limit is over since began
// would keep its sockets for good, so it is killed, where that can be
// done safely (see killHolder); one without a limit may still serve a
// request, and this process exits without it.
func (p *Process) endAncestors(live []*lifeline, began time.Time) {
	var killed []*lifeline
	for _, a := range live {
		select {
		case <-a.gone:
			continue
		default:
		}
		if a.limit <= 0 || time.Since(began) < a.limit {
			p.logger.Warn("an older generation is still draining, with no limit or a longer one; exiting without it", "ancestor_pid", a.pid)
			continue
		}
		if err := p.lineage.kill(a); err != nil {
			p.logger.Warn("an older generation is still there after its drain limit; it could not be killed", "ancestor_pid", a.pid, "error", err)
			continue
		}
		p.logger.Error("an older generation was still there after its drain limit (stopped or wedged): killed it", "ancestor_pid", a.pid, "limit", a.limit)
		killed = append(killed, a)
	}
	// Gone before this one exits, as far as a second allows.
	timeout := time.After(time.Second)
	for _, a := range killed {
		select {
		case <-a.gone:
		case <-timeout:
			return
		}
	}
}
