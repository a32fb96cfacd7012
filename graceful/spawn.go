package graceful

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// This file starts the next generation: the part of a restart that
// differs between the modes (startSuccessor, startWorker) and the part
// that does not (startNext): start the process, wait until it is ready,
// and on failure stop and reap it and say why, once.

// notReadyStopGrace is how long a new process that was given up on (not
// ready in time, or abandoned) gets between SIGTERM and SIGKILL. It never
// served, so it has nothing to drain; SIGKILL also ends a stopped one.
const notReadyStopGrace = 2 * time.Second

// startOptions describe the process startNext starts.
type startOptions struct {
	role       string // roleNameProcess or roleNameWorker
	generation int
	ancestors  []ancestor
	sockets    []*socket
	files      []heldFile
	reaper     *reaper
	// reload: a restart (tell systemd a reload is under way, and when it
	// ends), not a supervisor's first worker or a respawn.
	reload bool
	// serving: a generation serves meanwhile (the log says so when this
	// one fails).
	serving bool
}

// startSuccessor starts the next generation in re-exec mode.
func (p *Process) startSuccessor(ctx context.Context, reload bool) (*gen, error) {
	if p.pid == 1 {
		return nil, p.refuseRestart(fmt.Errorf("graceful: restart refused: this process is PID 1, and a re-exec restart ends with it exiting, which would end the container; use process.mode: %s", RestartModeSupervisor))
	}
	ancestors, err := p.lineage.ancestorsToPass(p.pid, p.generation)
	if err != nil {
		return nil, p.refuseRestart(fmt.Errorf("graceful: restart refused: %w", err))
	}
	p.mu.Lock()
	socks := slices.Clone(p.socks.owned)
	p.mu.Unlock()
	c, err := p.startNext(ctx, startOptions{
		role:       roleNameProcess,
		generation: p.generation + 1,
		ancestors:  ancestors,
		sockets:    socks,
		files:      p.lineage.filesToPass(),
		reload:     reload,
		serving:    true,
	})
	for _, a := range ancestors {
		closeFd(a.Lifeline)
	}
	if err != nil {
		return nil, err
	}
	names, _, _, _ := c.readyHandover()
	return &gen{kind: genSuccessor, n: p.generation + 1, pid: c.pid(), state: stServing, child: c, took: socketNames(names)}, nil
}

// refuseRestart logs and counts a restart that was refused before any
// process started, and tells systemd the reload it asked for is over.
func (p *Process) refuseRestart(err error) error {
	p.totals.add(totalRestartsFailed, 1)
	p.logger.Error("restart refused; still serving", "reason", err.Error())
	p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s", monotonicUsec()))
	p.notify("READY=1\nSTATUS=restart refused: " + err.Error() + "; still serving")
	return err
}

// startNext starts a process that inherits the sockets and waits until it
// is ready, has failed, or ctx ends. On failure the child is stopped and
// reaped, the reason is logged once at ERROR, with what the child said
// (its failure, or the tail of its standard error), and the error says
// why.
func (p *Process) startNext(ctx context.Context, o startOptions) (child, error) {
	begin := time.Now()
	what := fmt.Sprintf("generation %d", o.generation)
	if o.role == roleNameWorker {
		what = fmt.Sprintf("worker %d", o.generation)
	}
	exe := p.executable()
	p.logger.Info("restart: starting "+what, "next_generation", o.generation, "binary", exe, "sockets", len(o.sockets))
	if o.reload {
		p.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s\nSTATUS=starting %s", monotonicUsec(), what))
	}
	fail := func(why string, c child, err error) (child, error) {
		attrs := []any{"next_generation", o.generation, "reason", why, "took", time.Since(begin).Round(time.Millisecond)}
		if c != nil {
			attrs = append(attrs, "child_pid", c.pid(), "child_exit", c.exitStatus())
			if f := c.failure(); f != "" {
				attrs = append(attrs, "child_error", f)
			}
			if tail := c.stderrTail(); tail != "" {
				attrs = append(attrs, "child_stderr", tail)
			}
		}
		p.totals.add(totalRestartsFailed, 1)
		msg := "restart failed; still serving"
		if !o.serving {
			msg = "restart failed; no generation serves"
		}
		p.logger.Error(msg, attrs...)
		if o.reload {
			p.notify("READY=1\nSTATUS=restart failed: " + why + "; still serving")
		}
		if c != nil {
			if f := c.failure(); f != "" {
				why += ": " + f
			}
			return nil, fmt.Errorf("graceful: restart failed: %s (pid %d) %s; this process (pid %d) keeps serving", what, c.pid(), why, p.pid)
		}
		return nil, fmt.Errorf("graceful: restart failed: %s could not start; this process (pid %d) keeps serving: %w", what, p.pid, err)
	}

	spec := childSpec{
		exe:  exe,
		args: p.args,
		dir:  p.dir,
		env:  p.sys.environ(),
		handover: handover{
			Role:       o.role,
			Generation: o.generation,
			Ancestors:  o.ancestors,
			Totals:     p.totals.snapshot(),
		},
		sockets: o.sockets,
		reaper:  o.reaper,
		state: linkMsg{
			Type:         msgState,
			Secret:       p.lineage.secret[:],
			Totals:       p.totals.snapshot(),
			RestartNanos: p.lastRestart.Load(),
		},
		files: o.files,
	}
	c, err := startChild(p.sys, spec)
	if err != nil {
		return fail(err.Error(), nil, err)
	}

	timer := time.NewTimer(p.cfg.UpgradeTimeout)
	defer timer.Stop()
	var why string
	select {
	case <-c.ready():
	case <-c.exited():
		why = "exited before it was ready: " + c.exitStatus()
	case <-timer.C:
		why = fmt.Sprintf("was not ready within the upgrade timeout of %s", p.cfg.UpgradeTimeout)
	case <-ctx.Done():
		why = fmt.Sprintf("was abandoned before it was ready: %v", context.Cause(ctx))
	}
	if why != "" {
		select {
		case <-c.ready():
			why = "" // it became ready at the very moment: it serves
		default:
		}
	}
	if why == "" {
		took := time.Since(begin)
		if o.reload {
			p.lastRestart.Store(int64(took))
		}
		p.logger.Info("restart: "+what+" is ready", "next_generation", o.generation, "child_pid", c.pid(),
			"took", took.Round(time.Millisecond))
		return c, nil
	}
	c.stop(notReadyStopGrace)
	return fail(why, c, nil)
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

// notify sends a state to systemd, logging failures.
func (p *Process) notify(state string, fds ...int) {
	if err := p.sys.sdNotify(state, fds...); err != nil {
		p.logger.Warn("sd_notify failed", "state", firstLine(state), "error", err)
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
