package graceful

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Run serves every server made with [Process.NewServer], reports the
// process ready, and then handles its lifecycle until this generation is
// done:
//
//   - the restart signal (or [Process.Restart]) starts the next
//     generation; once it is ready, this process stops accepting, drains
//     and Run returns nil. A failed restart changes nothing.
//   - SIGTERM, SIGINT or the end of ctx start a graceful shutdown: the
//     readiness endpoint turns 503, the process keeps serving for
//     [ProcessConfig.ShutdownDelay] (a second signal skips the rest), then
//     every server drains and Run returns nil.
//
// Everything the program does before Run counts as start-up: a new
// generation that fails before Run never replaces the old one. Run returns
// an error when a server fails or the process cannot report ready.
func (p *Process) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running || p.done {
		p.mu.Unlock()
		return errors.New("graceful: Process.Run called twice")
	}
	// A server closed before Run (a caller that gave up on a set of
	// servers half-way) is not served, and its socket is not handed on.
	var servers []*Server
	var owned []ownedListener
	for i, s := range p.servers {
		if !s.isStopping() {
			servers = append(servers, s)
			owned = append(owned, p.owned[i])
		}
	}
	p.servers, p.owned = servers, owned
	if len(servers) == 0 {
		p.mu.Unlock()
		return errors.New("graceful: Process.Run: no servers; create them with Process.NewServer first")
	}
	p.running = true
	servers = slices.Clone(servers)
	p.mu.Unlock()
	defer p.finish()
	if p.cfg.Mode == RestartModeSupervisor && !p.worker {
		return p.supervise(ctx)
	}

	stopCh := make(chan os.Signal, 4)
	p.sys.notifySignals(stopCh, stopSignals...)
	defer p.sys.stopSignals(stopCh)
	p.dropEarlyRestartSignals()
	p.closeUnclaimed()

	serveErrs := make(chan error, len(servers))
	var serving sync.WaitGroup
	for _, s := range servers {
		serving.Go(func() {
			if err := s.Serve(context.Background()); err != nil {
				serveErrs <- err
			}
		})
	}
	defer serving.Wait()

	if err := p.becomeReady(); err != nil {
		p.shutdownServers(servers)
		return err
	}
	return p.loop(ctx, servers, stopCh, serveErrs, p.readControl())
}

// readControl delivers a worker's commands from its supervisor: "drain",
// or "gone" when the pipe ends. It returns nil outside worker mode.
func (p *Process) readControl() <-chan string {
	if p.control == nil {
		return nil
	}
	ch := make(chan string, 1)
	go func() {
		defer p.control.Close()
		buf := make([]byte, 64)
		for {
			n, err := p.control.Read(buf)
			if n > 0 && strings.Contains(string(buf[:n]), controlDrain) {
				ch <- controlDrain
				return
			}
			if err != nil {
				ch <- "gone"
				return
			}
		}
	}()
	return ch
}

// loop is the lifecycle state machine of a serving process.
func (p *Process) loop(ctx context.Context, servers []*Server, stopCh <-chan os.Signal, serveErrs <-chan error, control <-chan string) error {
	upgradeDone := make(chan upgradeResult, 1)
	var cancelUpgrade context.CancelFunc
	upgrading := false
	startUpgrade := func(parent context.Context, req *restartRequest) {
		upgrading = true
		var upCtx context.Context
		upCtx, cancelUpgrade = context.WithCancel(parent)
		go func() {
			c, err := p.upgrade(upCtx)
			upgradeDone <- upgradeResult{child: c, err: err, req: req}
		}()
	}
	finishUpgrade := func(r upgradeResult) {
		upgrading = false
		cancelUpgrade()
		if r.req != nil {
			r.req.result <- r.err
		}
	}
	// abortUpgrade gives up on a restart under way. It returns the
	// successor if it became ready in the meantime: it serves, so this
	// process must hand over rather than clean up as the last one.
	abortUpgrade := func(why error) child {
		if !upgrading {
			return nil
		}
		cancelUpgrade()
		r := <-upgradeDone
		if r.err != nil {
			r.err = fmt.Errorf("%w: %w", why, r.err)
		}
		finishUpgrade(r)
		return r.child
	}

	for {
		select {
		case sig := <-p.sigCh:
			switch {
			case p.worker:
				p.logger.Info("restart signal ignored: the supervisor restarts workers", "signal", sig)
				continue
			case upgrading:
				p.logger.Info("restart signal coalesced into the restart under way", "signal", sig)
				continue
			}
			p.logger.Info("restart requested", "signal", sig)
			startUpgrade(context.Background(), nil)

		case req := <-p.restartReq:
			switch {
			case p.worker:
				req.result <- fmt.Errorf("graceful: this worker cannot restart itself: its supervisor (pid %d) restarts workers on %v", p.ancestors[0], p.cfg.RestartSignal)
				continue
			case upgrading:
				req.result <- ErrRestartInProgress
				continue
			}
			p.logger.Info("restart requested", "by", "Restart")
			startUpgrade(req.ctx, &req)

		case r := <-upgradeDone:
			finishUpgrade(r)
			if r.err == nil {
				return p.handOver(servers, r.child.pid())
			}

		case cmd := <-control:
			if cmd == controlDrain {
				return p.handOver(servers, p.ancestors[0])
			}
			p.logger.Warn("the supervisor is gone; shutting down")
			return p.shutdown(servers, nil, "supervisor gone")

		case err := <-serveErrs:
			if c := abortUpgrade(errors.New("a server failed")); c != nil {
				return p.handOver(servers, c.pid())
			}
			p.logger.Error("a server failed; shutting the process down", "error", err)
			p.stopping.Store(true)
			p.shutdownServers(servers)
			if !p.worker {
				p.notify("STOPPING=1")
				p.cleanUpFinal()
			}
			return err

		case sig := <-stopCh:
			if c := abortUpgrade(errors.New("the process is shutting down")); c != nil {
				return p.handOver(servers, c.pid())
			}
			return p.shutdown(servers, stopCh, sig.String())

		case <-ctx.Done():
			if c := abortUpgrade(errors.New("the process is shutting down")); c != nil {
				return p.handOver(servers, c.pid())
			}
			return p.shutdown(servers, stopCh, "context: "+context.Cause(ctx).Error())
		}
	}
}

// Restart starts the next generation, as the restart signal does, and
// returns its outcome: nil once the new generation is ready and this
// process has begun to drain (Run is then about to return), an error
// saying why otherwise, in which case this process goes on serving.
// Cancelling ctx abandons the restart. A restart requested while another
// is under way returns [ErrRestartInProgress].
func (p *Process) Restart(ctx context.Context) error {
	p.mu.Lock()
	running := p.running && !p.done
	p.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	req := restartRequest{ctx: ctx, result: make(chan error, 1)}
	select {
	case p.restartReq <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.result
}

// dropEarlyRestartSignals discards restart signals that arrived while the
// process was starting: it was not ready to restart, and it must not die
// of them.
func (p *Process) dropEarlyRestartSignals() {
	for {
		select {
		case sig := <-p.sigCh:
			p.logger.Warn("restart signal received before the process was ready: ignored", "signal", sig)
		default:
			return
		}
	}
}

// becomeReady writes the PID file, tells the parent generation (if any)
// and systemd that this process serves.
func (p *Process) becomeReady() error {
	if p.worker {
		// The supervisor is the service for the outside world: the PID
		// file and systemd hear of it, not of its workers.
		if err := p.parent.reportReady(p.pid); err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
		p.parent = nil
		p.logger.Info("worker ready", "servers", p.serverAddresses())
		return nil
	}
	if p.cfg.PIDFile != "" {
		if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
	}
	if p.parent != nil {
		// systemd first: once the parent hears we are ready it drains,
		// and systemd must already follow the new main PID.
		p.notify(fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=serving (generation %d)", p.pid, p.generation))
		if err := p.parent.reportReady(p.pid); err != nil {
			return fmt.Errorf("graceful: %w", err)
		}
		p.parent = nil
	} else {
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (generation %d)", p.generation))
	}
	p.logger.Info("ready", "servers", p.serverAddresses())
	return nil
}

// handOver drains this generation after its successor became ready (or,
// for a worker, when its supervisor asks). The PID file, unix socket files
// and systemd's main PID now belong to someone else: nothing of them is
// touched.
func (p *Process) handOver(servers []*Server, to int) error {
	p.stopping.Store(true)
	begin := time.Now()
	p.logger.Info("handed over; draining", "to_pid", to)
	p.shutdownServers(servers)
	p.logger.Info("drained; exiting", "took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// shutdown performs the final, graceful shutdown of the process.
func (p *Process) shutdown(servers []*Server, stopCh <-chan os.Signal, cause string) error {
	p.stopping.Store(true)
	p.logger.Info("shutting down", "cause", cause)
	if !p.worker {
		p.notify("STOPPING=1")
	}
	if d := p.cfg.ShutdownDelay; d > 0 && stopCh != nil {
		p.logger.Info("shutdown delay: readiness answers 503, serving continues", "delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case sig := <-stopCh:
			p.logger.Info("shutdown delay cut short", "signal", sig)
		}
		t.Stop()
	}
	begin := time.Now()
	p.shutdownServers(servers)
	p.awaitAncestors()
	if !p.worker {
		p.cleanUpFinal()
	}
	p.logger.Info("stopped", "drain_took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// shutdownServers drains every server at once and waits for all of them.
func (p *Process) shutdownServers(servers []*Server) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(context.Background()); err != nil {
				p.logger.Warn("shutdown cut requests", "address", s.describe(), "error", err)
			}
		})
	}
	wg.Wait()
}

// cleanUpFinal removes what only the last generation owns: the PID file
// (if it still names this process) and unix socket files.
func (p *Process) cleanUpFinal() {
	if p.cfg.PIDFile != "" {
		if err := removePIDFile(p.cfg.PIDFile, p.pid); err != nil {
			p.logger.Warn("remove PID file", "error", err)
		}
	}
	p.mu.Lock()
	owned := slices.Clone(p.owned)
	p.mu.Unlock()
	for _, o := range owned {
		if o.ep.network == "unix" {
			if err := os.Remove(o.ep.address); err != nil && !errors.Is(err, os.ErrNotExist) {
				p.logger.Warn("remove unix socket file", "path", o.ep.address, "error", err)
			}
		}
	}
}

// closeListeners closes the listeners of servers that never served (a
// supervisor's).
func (p *Process) closeListeners() {
	p.mu.Lock()
	servers := slices.Clone(p.servers)
	p.mu.Unlock()
	for _, s := range servers {
		_ = s.Close(context.Background())
	}
}

// finish marks the process done and releases its signal handlers.
func (p *Process) finish() {
	p.sys.stopSignals(p.sigCh)
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	if p.parent != nil {
		p.parent.close()
		p.parent = nil
	}
}

func (p *Process) serverAddresses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := make([]string, 0, len(p.servers))
	for _, s := range p.servers {
		addrs = append(addrs, s.GetListenedAddress())
	}
	return addrs
}
