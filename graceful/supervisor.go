package graceful

import (
	"context"
	"fmt"
	"slices"
)

// supervise runs the process as a supervisor and returns its exit code.
// It holds the sockets and runs the program in worker processes (the same
// binary), so that its own PID never changes. Its lifecycle is the one of
// every process (lifecycle.go): a restart starts a new worker, waits
// until it is ready, then tells the old one to drain; a new worker that
// fails changes nothing; the old worker keeps its sockets for the
// probation and serves again if the new one dies in it. A worker that
// dies otherwise is replaced, with back-off, for as long as the
// supervisor lives; meanwhile connections wait in the sockets' queues.
// SIGTERM or SIGINT stop the workers, which drain (after the shutdown
// delay); the supervisor exits when they have, with the serving worker's
// status.
func (p *Process) supervise(ctx context.Context) int {
	l := newLifecycle(p)
	defer p.sys.stopSignals(l.stopCh)
	// The binary this supervisor runs, to tell a new one at its path.
	p.image, _ = statID(selfOrExe(p.exe))
	var rp *reaper
	if p.pid == 1 {
		rp = newReaper(p.logger)
		defer rp.stop()
	}
	l.held = p.socks.inherited
	p.socks.inherited = nil
	l.start = func() (childSpec, error) {
		l.workers++
		spec := childSpec{
			handover: handover{Role: roleNameWorker, Generation: l.workers, Ancestors: []ancestor{{PID: p.pid, Lifeline: -1}}},
			sockets:  slices.Clone(l.held),
			reaper:   rp,
		}
		// The files of the workers alive: duplicates, as a worker that
		// exits while this one starts has its own closed.
		var files []heldFile
		for _, g := range l.gens {
			if g.state != stExited {
				files = append(files, g.files...)
			}
		}
		var err error
		if spec.files, err = dupFiles(files); err != nil {
			return spec, p.refuseRestart(fmt.Errorf("graceful: restart refused: %w", err))
		}
		return spec, nil
	}
	if st := p.resumed; st != nil {
		// This is the supervisor's next image: it takes over.
		p.resumed = nil
		restarts, stops, err := p.resumeSupervisor(l, *st, rp)
		if err != nil {
			p.logger.Error("supervisor: cannot take over from its previous image", "error", err)
			return 1
		}
		// Signals its previous image caught, and stops caught early by
		// this one, are handled first.
		for _, sig := range restarts {
			l.restart(sig, nil)
		}
		for _, sig := range append(stops, takeEarlyStops()...) {
			l.stop(sig.String())
		}
	} else {
		l.begin(nil, false) // the first worker
	}
	err := l.run(ctx)
	p.cleanUpFinal(l.held)
	closeSockets(l.held, nil)
	if err == nil && l.status != "" && l.status != "exit status 0" {
		err = fmt.Errorf("the worker ended with %s", l.status)
	}
	if err != nil {
		p.logger.Error("supervisor: exiting", "error", err)
		return 1
	}
	p.logger.Info("stopped", "worker_status", l.status)
	return 0
}

// setOf returns the set of the values in vs.
func setOf[T comparable](vs []T) map[T]bool {
	set := make(map[T]bool, len(vs))
	for _, v := range vs {
		set[v] = true
	}
	return set
}

// closeSockets closes the sockets in socks that are not in keep.
func closeSockets(socks, keep []*socket) {
	kept := setOf(keep)
	for _, s := range socks {
		if !kept[s] {
			s.close()
		}
	}
}
