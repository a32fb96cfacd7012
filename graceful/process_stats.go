package graceful

import "time"

// Lineage totals of the drains, besides the restart counters (see
// totals.go).
const (
	totalDrains              = "drains"
	totalServedWhileDraining = "served_while_draining"
	totalCutConns            = "cut_conns"
	totalCutRequests         = "cut_requests"
	totalHijackedClosed      = "hijacked_closed"
)

// ProcessStats is a snapshot of a process's lifecycle, for metrics and
// health endpoints. Take one with [Process.Stats].
//
// The counters are the service's, not the process's: each generation
// starts from the counts of the one before it (handed over with the
// sockets, and brought up to date when the old one exits), and in
// supervisor mode the supervisor keeps them for its workers. So they never
// go back across restarts, as a Prometheus counter must not; a service
// started afresh starts from zero.
type ProcessStats struct {
	PID        int
	Role       Role
	Generation int
	// Ready is true while this process serves: it has neither handed
	// over to a successor nor begun to stop. (Its readiness endpoint
	// answers for the service: see [Process.ReadinessHandler].)
	Ready bool
	// GenerationsAlive counts the processes of the service that hold its
	// sockets: this one and the older ones still draining or in
	// probation (in supervisor mode, the workers).
	GenerationsAlive int

	// RestartsSucceeded and RestartsFailed count restarts by outcome; a
	// restart refused (too many generations, PID 1) counts as failed.
	RestartsSucceeded, RestartsFailed uint64
	// Rollbacks counts the times an old generation served again because
	// the new one died within the probation.
	Rollbacks uint64
	// LastRestartDuration is how long the last successful restart took,
	// from its start to the new generation's ready, as the process that
	// performed it measured; 0 before the first.
	LastRestartDuration time.Duration

	// Drains counts the finished drains of HTTP servers;
	// ServedWhileDraining, CutConns, CutRequests and HijackedClosed add
	// up their [DrainStats].
	Drains, ServedWhileDraining, CutConns, CutRequests, HijackedClosed uint64

	// Servers are the snapshots of the HTTP servers this generation
	// serves, in the order they were made.
	Servers []Stats
}

// Stats returns a snapshot of the process's lifecycle and of its servers.
func (p *Process) Stats() ProcessStats {
	t := p.totals.snapshot()
	st := ProcessStats{
		PID:                 p.pid,
		Role:                p.role,
		Generation:          p.generation,
		RestartsSucceeded:   t[totalRestartsSucceeded],
		RestartsFailed:      t[totalRestartsFailed],
		Rollbacks:           t[totalRollbacks],
		Drains:              t[totalDrains],
		ServedWhileDraining: t[totalServedWhileDraining],
		CutConns:            t[totalCutConns],
		CutRequests:         t[totalCutRequests],
		HijackedClosed:      t[totalHijackedClosed],
		LastRestartDuration: time.Duration(p.lastRestart.Load()),
	}
	p.mu.Lock()
	st.Ready = p.running && !p.done && !p.stopping.Load()
	for _, u := range p.units {
		if u.srv != nil {
			st.Servers = append(st.Servers, u.srv.Stats())
		}
	}
	p.mu.Unlock()
	if p.role == RoleWorker {
		st.GenerationsAlive = int(p.alive.Load())
	} else {
		st.GenerationsAlive = 1 + len(p.lineage.liveAncestors())
	}
	return st
}

// countDrains adds the drains of the units' HTTP servers to the totals,
// and returns their sum, for the one log line of a drain.
func (p *Process) countDrains(units []*unit) DrainStats {
	var sum DrainStats
	for _, u := range units {
		s, ok := u.svc.(*Server)
		if !ok {
			continue
		}
		d := s.lastDrain()
		if !d.Finished {
			continue
		}
		sum.Finished = true
		sum.Duration = max(sum.Duration, d.Duration)
		sum.ServedWhileDraining += d.ServedWhileDraining
		sum.IdleClosed += d.IdleClosed
		sum.HijackedClosed += d.HijackedClosed
		sum.CutConns += d.CutConns
		sum.CutRequests += d.CutRequests
		p.totals.addAll(map[string]uint64{
			totalDrains:              1,
			totalServedWhileDraining: d.ServedWhileDraining,
			totalCutConns:            uint64(d.CutConns),
			totalCutRequests:         uint64(max(d.CutRequests, 0)),
			totalHijackedClosed:      uint64(d.HijackedClosed),
		})
	}
	return sum
}
