package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// This file starts a successor: the part of a restart that
// differs between the modes, what the successor gets (successorSpec here,
// a worker's in supervise), and the part that does not (startNext): start
// the process, wait until it is ready, and on failure stop and reap it
// and say why, once.

// notReadyStopGrace is how long a successor that was given up on (not
// ready in time, or abandoned) gets between SIGTERM and SIGKILL. It never
// served, so it has nothing to drain; SIGKILL also ends a stopped one.
const notReadyStopGrace = 2 * time.Second

// successorSpec says what a successor gets in re-exec mode, or why there
// is none (refused: see refuseRestart).
func (p *Process) successorSpec() (childSpec, error) {
	if why := p.reexecRefusal(); why != "" {
		return childSpec{}, p.refuseRestart(fmt.Errorf("graceful: restart refused: %s; use process.mode: %s", why, RestartModeSupervisor))
	}
	ancestors, err := p.lineage.ancestorsToPass(p.pid, p.generation, p.boundedDrainLimit())
	if err != nil {
		return childSpec{}, p.refuseRestart(fmt.Errorf("graceful: restart refused: %w", err))
	}
	files, err := p.lineage.filesToPass()
	if err != nil {
		for _, a := range ancestors {
			closeFd(a.Lifeline)
		}
		return childSpec{}, p.refuseRestart(fmt.Errorf("graceful: restart refused: %w", err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return childSpec{
		handover: handover{Role: roleNameProcess, Generation: p.generation + 1, Ancestors: ancestors},
		sockets:  slices.Clone(p.socks.owned),
		files:    files,
	}, nil
}

// reexecRefusal says why a re-exec restart would end the container with
// the process that exits at its end, or "": this process is PID 1; or it
// is the first generation and its parent ends the container with it (see
// containerParent). Only the first generation's parent started the
// service: a later one's, once the older generations have exited, is
// whichever process adopts orphans.
func (p *Process) reexecRefusal() string {
	switch {
	case p.pid == 1:
		return "this process is PID 1, and a re-exec restart ends with it exiting, which would end the container"
	case p.generation == 1:
		if why := p.sys.containerParent(); why != "" {
			return why + ", and a re-exec restart ends with this process exiting"
		}
	}
	return ""
}

// refuseRestart logs and counts a restart that was refused before any
// process started, and tells systemd, which waits for the end of a
// restart once it is told of one (RELOADING=1), that it is over.
func (p *Process) refuseRestart(err error) error {
	p.totals.add(totalRestartsFailed, 1)
	p.logger.Error("restart refused; still serving", "reason", err.Error())
	p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s", monotonicUsec()))
	p.notify("READY=1\nSTATUS=restart refused: " + err.Error() + "; still serving")
	return err
}

// startNext starts the process spec describes (its role, generation,
// ancestors, sockets, files and reaper: the rest is this process's), which
// takes over the sockets, and waits until it is ready, has failed, or ctx
// ends. The descriptors of spec's files and of its ancestors' lifelines
// are the caller's duplicates: startNext closes them. restart: a restart
// someone asked for (systemd is told it is under way, RELOADING=1, and
// when it ends), not a supervisor's first worker or the replacement of
// one that died; serving: a generation serves meanwhile (the log says so
// when this one fails). On failure the child is stopped and reaped, the
// reason is logged once at ERROR, with what the child said (its failure,
// or the tail of its standard error), and the error says why.
func (p *Process) startNext(ctx context.Context, spec childSpec, restart, serving bool) (*gen, error) {
	defer func() {
		closeFiles(spec.files)
		for _, a := range spec.handover.Ancestors {
			closeFd(a.Lifeline)
		}
	}()
	begin := time.Now()
	n := spec.handover.Generation
	what, kind := fmt.Sprintf("generation %d", n), genSuccessor
	if spec.handover.Role == roleNameWorker {
		what, kind = fmt.Sprintf("worker %d", n), genWorker
	}
	spec.exe = p.executable()
	p.logger.Info("restart: starting "+what, "next_generation", n, "binary", spec.exe, "sockets", len(spec.sockets))
	if restart {
		p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s\nSTATUS=starting %s", monotonicUsec(), what))
	}
	spec.args = p.args
	spec.dir = p.dir
	spec.env = p.sys.environ()
	spec.handover.Totals = p.totals.snapshot()
	spec.state = linkMsg{Type: msgState, Secret: p.lineage.secret[:], Totals: p.totals.snapshot(), RestartNanos: p.lastRestart.Load()}
	c, err := startChild(p.sys, spec)
	why, leftovers, readyLate := "", 0, false
	if err != nil {
		why = err.Error()
	} else {
		timer := time.NewTimer(p.cfg.UpgradeTimeout)
		defer timer.Stop()
		select {
		case <-c.ready():
		case <-c.exited():
			why = "exited before it was ready: " + c.exitStatus()
		case <-timer.C:
			why = fmt.Sprintf("was not ready within the upgrade timeout of %s", p.cfg.UpgradeTimeout)
		case <-ctx.Done():
			why = fmt.Sprintf("was abandoned before it was ready: %v", context.Cause(ctx))
		}
		select {
		case <-c.ready():
			why = "" // it became ready at the very moment: it serves
		default:
		}
		grace := notReadyStopGrace
		if why != "" && kind == genSuccessor && errors.Is(context.Cause(ctx), errAbandoned) {
			// A stop gave up on it, and its ready message may be on its
			// way. Told to stop, a successor that has become ready drains
			// and waits for this process to exit: waiting here for its
			// exit would hold both until the SIGKILL. (A worker does not
			// wait for its supervisor, which waits for it as before.)
			c.signal(syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-c.ready():
				readyLate = true
			case <-c.exited():
			case <-t.C:
			}
			t.Stop()
			grace = 0 // it had its grace
		}
		if why != "" && !readyLate {
			leftovers = c.stop(grace)
		}
	}
	if readyLate {
		p.logger.Info("restart abandoned: the new generation became ready as this process stopped; told to stop too, it drains on its own",
			"next_generation", n, "child_pid", c.pid(), "took", time.Since(begin).Round(time.Millisecond))
		return nil, fmt.Errorf("graceful: restart abandoned: %s (pid %d) became ready as this process (pid %d) stopped, and stops too", what, c.pid(), p.pid)
	}
	if why == "" {
		took := time.Since(begin)
		if restart {
			p.lastRestart.Store(int64(took))
		}
		p.logger.Info("restart: "+what+" is ready", "next_generation", n, "child_pid", c.pid(),
			"took", took.Round(time.Millisecond))
		// The generation takes the names of the sockets the child took; a
		// worker passes them, and the files it passes on, so that its
		// supervisor holds them for the next worker.
		names, fds, files, fileFds := c.readyHandover()
		g := &gen{kind: kind, n: n, pid: c.pid(), state: stServing, child: c, took: socketNames(names)}
		g.socks = p.workerSockets(c.pid(), names, fds)
		if kind == genWorker {
			g.stopLimit = max(c.readyMessage().StopLimit, 0)
		}
		for i := range min(len(files), len(fileFds)) {
			g.files = append(g.files, heldFile{files[i], fileFds[i]})
		}
		return g, nil
	}
	attrs := []any{"next_generation", n, "reason", why, "took", time.Since(begin).Round(time.Millisecond)}
	failure := ""
	if err == nil {
		failure = c.failure()
		attrs = append(attrs, "child_pid", c.pid(), "child_exit", c.exitStatus())
		if failure != "" {
			attrs = append(attrs, "child_error", failure)
		}
		if tail := c.stderrTail(); tail != "" {
			attrs = append(attrs, "child_stderr", tail)
		}
		if leftovers > 0 {
			// Processes the child started (a wrapper script's), which
			// held its descriptors: the sockets would have stayed open.
			attrs = append(attrs, "leftovers_killed", leftovers)
		}
	}
	p.totals.add(totalRestartsFailed, 1)
	msg := "restart failed; still serving"
	if !serving {
		msg = "restart failed; no generation serves"
	}
	abandoned := errors.Is(context.Cause(ctx), errAbandoned)
	if abandoned {
		// Given up on by a stop (or a failed service): not a failure of
		// the successor, and nothing goes on serving.
		p.logger.Warn("restart abandoned: this process stops", attrs...)
	} else {
		p.logger.Error(msg, attrs...)
	}
	if restart && !abandoned {
		p.notify("READY=1\nSTATUS=restart failed: " + why + "; still serving")
	}
	if err != nil {
		return nil, fmt.Errorf("graceful: restart failed: %s could not start; this process (pid %d) keeps serving: %w", what, p.pid, err)
	}
	if failure != "" {
		why += ": " + failure
	}
	return nil, fmt.Errorf("graceful: restart failed: %s (pid %d) %s; this process (pid %d) keeps serving", what, c.pid(), why, p.pid)
}

// executable is the binary a restart starts: the configured or resolved
// path; when that file is gone (a `go run` binary cleaned up, say), the
// running binary itself.
func (p *Process) executable() string {
	if _, err := os.Stat(p.exe); err != nil {
		if self := selfExecutable(); self != "" {
			p.logger.Warn("restart: the binary is gone; starting the running binary again", "binary", p.exe, "error", err)
			return self
		}
	}
	return p.exe
}

// notify sends a state to systemd, logging failures with its first line.
func (p *Process) notify(state string, fds ...int) {
	if err := p.sys.sdNotify(state, fds...); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		p.logger.Warn("sd_notify failed", "state", first, "error", err)
	}
}

// workerSockets returns the sockets a worker (pid) passed with a message:
// named by socks, with the descriptors fds, which they then own. The
// worker is not trusted: a descriptor that is not a socket, one named
// by no socket or by two, and a socket with no name or with the name of
// another are left out, and every descriptor left out is closed.
func (p *Process) workerSockets(pid int, socks []handoverSocket, fds []int) []*socket {
	var out []*socket
	used := make([]bool, len(fds))
	names := make(map[string]bool, len(socks))
	for _, hs := range socks {
		if hs.Fd < 0 || hs.Fd >= len(fds) || used[hs.Fd] || hs.Name == "" || names[hs.Name] {
			if hs.Fd >= 0 {
				p.logger.Warn("the worker passed a socket it had named already, or with no name", "worker_pid", pid, "name", hs.Name)
			}
			continue
		}
		used[hs.Fd] = true
		fd := fds[hs.Fd]
		addr, packet, err := inspectSocket(fd)
		if err != nil {
			p.logger.Warn("the worker passed a socket that is not one", "worker_pid", pid, "error", err)
			closeFd(fd)
			continue
		}
		names[hs.Name] = true
		out = append(out, &socket{name: hs.Name, fd: fd, addr: addr, packet: packet, from: "worker", fdName: hs.FdName})
	}
	for i, fd := range fds {
		if !used[i] {
			closeFd(fd)
		}
	}
	return out
}
