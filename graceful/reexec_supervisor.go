package graceful

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// A supervisor replaces its own image at a restart that brings a new
// binary (the file at its path is not the one it runs) or new settings
// for itself (the new worker's configuration says another restart
// signal, timeout, probation, PID file or log handler than the one the
// supervisor runs by): once the new worker serves, it executes the binary
// at its path again, in place, so that its PID (what supervisord, Docker
// or a terminal follow) never changes, and the new image loads the
// configuration again, as the new worker did, and takes over the
// supervisor's state: the sockets, the workers (still its children, over
// the same links), the service's secret and counters, a probation under
// way. New supervisor settings and a new supervisor binary thus take
// effect at a restart, as they do in re-exec mode.
//
// The binary and the configuration are those the new worker has just
// started with, so the new image starts as surely as the worker did.
// Signals caught before the exec are replayed in the new image, and those
// that arrive once it has begun to start are caught by
// internal/earlysignal. In between, for about a millisecond, a restart
// signal or SIGINT is lost and SIGTERM ends the supervisor (its workers
// then drain and exit as at a stop): the Go runtime applies its default
// action to a signal nobody has asked for yet. A restart that changes
// nothing for the supervisor does not execute it.

// supervisorState is what a supervisor hands its next image, in a file
// whose descriptor the handover names.
type supervisorState struct {
	Secret       []byte            `json:"secret"`
	Totals       map[string]uint64 `json:"totals,omitempty"`
	RestartNanos int64             `json:"restart_ns,omitempty"`
	Workers      int               `json:"workers"` // number of the last worker started
	Held         []stateSocket     `json:"held,omitempty"`
	Gens         []stateGen        `json:"gens"`
	Again        bool              `json:"again,omitempty"`
	// ProbationLeft is what remains of a worker's probation.
	ProbationLeft time.Duration `json:"probation_left,omitempty"`
	// Signals were caught by the old image and not handled yet.
	Signals []string `json:"signals,omitempty"`
	// Exiting are the workers the old image did not hand over because
	// they were exiting: children of this process still, which the new
	// image reaps.
	Exiting []int `json:"exiting,omitempty"`
}

type stateSocket struct {
	Name   string `json:"name"`
	FdName string `json:"fd_name,omitempty"`
	Fd     int    `json:"fd"`
}

type stateGen struct {
	N     int           `json:"n"`
	PID   int           `json:"pid"`
	State string        `json:"state"`
	Link  int           `json:"link"`
	Socks []stateSocket `json:"socks,omitempty"`
	Took  []string      `json:"took,omitempty"`
	Files []stateFile   `json:"files,omitempty"`
	// StopLimit is the worker's (see gen.stopLimit).
	StopLimit time.Duration `json:"stop_limit,omitempty"`
}

type stateFile struct {
	passedFile
	Fd int `json:"fd"`
}

// settings describes what a supervisor runs by, from p's configuration:
// a worker sends its own with its ready message, and a supervisor whose
// own differ executes itself again to take them.
func (p *Process) settings() string {
	c := p.cfg
	h := p.logger.Handler()
	levels := ""
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if h.Enabled(context.Background(), lv) {
			levels += lv.String() + " "
		}
	}
	return fmt.Sprintf("signal=%v upgrade_timeout=%s max_generations=%d probation=%s pid_file=%q executable=%q log=%T levels=%s",
		c.RestartSignal, c.UpgradeTimeout, c.MaxGenerations, c.Probation, c.PIDFile, c.Executable, h, levels)
}

// wantsReexec reports whether the supervisor should execute itself again
// now that g serves: its binary or its settings changed.
func (p *Process) wantsReexec(g *gen) (bool, string) {
	if s := g.child.readyMessage().Settings; s != "" && s != p.settings() {
		return true, "new settings"
	}
	if changed(p.executable(), p.image) {
		return true, "a new binary"
	}
	return false, ""
}

// fileID identifies the file of a binary.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// changed reports whether the file at path is not the one id describes.
func changed(path string, id fileID) bool {
	now, err := statID(path)
	return err == nil && id != (fileID{}) && now != id
}

// maxSupervisorState bounds the state file a new image reads.
const maxSupervisorState = 4 << 20

// reexecSupervisor replaces the supervisor's image (see above). It
// returns only when the exec failed: the supervisor then goes on with the
// image it has.
func (l *lifecycle) reexecSupervisor() {
	p := l.p
	exe := p.executable()
	// Messages the workers sent are handled first.
	for drained := false; !drained; {
		select {
		case event := <-l.events:
			event()
		default:
			drained = true
		}
	}
	st := supervisorState{
		Secret:       p.lineage.secret[:],
		Totals:       p.totals.snapshot(),
		RestartNanos: p.lastRestart.Load(),
		Workers:      l.workers,
		Again:        l.again,
	}
	closeOnExecAbove()
	var kept []int // descriptors without close-on-exec, for the new image
	keep := func(fd int) int {
		dup, err := dupInheritable(fd)
		if err != nil {
			return -1
		}
		kept = append(kept, dup)
		return dup
	}
	keepSockets := func(socks []*socket) []stateSocket {
		var out []stateSocket
		for _, s := range socks {
			if s.fd < 0 {
				continue
			}
			if fd := keep(s.fd); fd >= 0 {
				out = append(out, stateSocket{Name: s.name, FdName: s.fdName, Fd: fd})
			}
		}
		return out
	}
	st.Held = keepSockets(l.held)
	for _, g := range l.gens {
		if g.state == stExited {
			continue
		}
		lfd, err := g.child.linkFd()
		if err != nil {
			// Its link is closed only once the worker has exited (a
			// drained worker, released a moment ago): the next image
			// only reaps it.
			p.logger.Info("a worker that is exiting is not handed to the supervisor's next image", g.logAttrs("error", err)...)
			st.Exiting = append(st.Exiting, g.pid)
			continue
		}
		sg := stateGen{N: g.n, PID: g.pid, State: g.state.String(), Link: keep(lfd), Took: g.took, StopLimit: g.stopLimit}
		closeFd(lfd)
		sg.Socks = keepSockets(g.socks)
		for _, f := range g.files {
			if fd := keep(f.fd); fd >= 0 {
				sg.Files = append(sg.Files, stateFile{f.passedFile, fd})
			}
		}
		st.Gens = append(st.Gens, sg)
	}
	if l.probation != nil && l.probationEnds.After(time.Now()) {
		st.ProbationLeft = time.Until(l.probationEnds)
	}
	// From here on a stop or restart signal waits for the new image (it
	// stays pending across the exec); one caught already is replayed
	// there.
	restore := p.sys.blockForExec(append([]os.Signal{p.cfg.RestartSignal}, stopSignals...)...)
	for drained := false; !drained; {
		select {
		case sig := <-p.sigCh:
			st.Signals = append(st.Signals, signalName(sig))
		case sig := <-l.stopCh:
			st.Signals = append(st.Signals, signalName(sig))
		default:
			drained = true
		}
	}
	b, err := json.Marshal(st)
	if err == nil {
		var fd int
		fd, err = stateFile{}.write(b)
		if err == nil {
			kept = append(kept, fd)
			h := handover{Version: handoverVersion, Role: roleNameSupervisor, StateFd: fd}
			var enc string
			if enc, err = h.encode(); err == nil {
				env := append(childEnviron(p.sys.environ()), HandoverEnv+"="+enc)
				p.logger.Info("restart: the supervisor executes its binary again, in place", "binary", exe, "workers", len(st.Gens))
				err = p.sys.exec(exe, p.args, env)
			}
		}
	}
	// The exec failed: this image goes on.
	restore()
	p.logger.Error("the supervisor could not execute its binary again; it goes on with this one", "binary", exe, "error", err)
	closeAll(kept)
	p.sys.notifySignals(p.sigCh, p.cfg.RestartSignal)
	p.sys.notifySignals(l.stopCh, stopSignals...)
}

func closeAll(fds []int) {
	for _, fd := range fds {
		closeFd(fd)
	}
}

func signalName(sig os.Signal) string {
	for _, name := range []string{"SIGTERM", "SIGINT"} {
		if s, err := stopSignalByName(name); err == nil && s == sig {
			return name
		}
	}
	for _, name := range RestartSignalNames() {
		if s, err := SignalByName(name); err == nil && s == sig {
			return name
		}
	}
	return sig.String()
}

// write puts b in an anonymous file whose descriptor survives exec, at
// offset 0.
func (stateFile) write(b []byte) (int, error) {
	fd, err := anonFile()
	if err != nil {
		return -1, fmt.Errorf("state file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "supervisor state")
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return -1, fmt.Errorf("state file: %w", err)
	}
	dup, err := dupInheritable(fd)
	_ = f.Close()
	if err != nil {
		return -1, fmt.Errorf("state file: %w", err)
	}
	if err := seekStart(dup); err != nil {
		closeFd(dup)
		return -1, fmt.Errorf("state file: %w", err)
	}
	return dup, nil
}

// readSupervisorState reads the state a supervisor's previous image left,
// and checks every descriptor it names came from exec.
func readSupervisorState(fd int) (supervisorState, error) {
	var st supervisorState
	if err := inheritable(fd); err != nil {
		return st, err
	}
	f := os.NewFile(uintptr(fd), "supervisor state")
	defer f.Close()
	b := make([]byte, maxSupervisorState+1)
	n, err := readFull(f, b)
	if err != nil {
		return st, fmt.Errorf("read the supervisor's state: %w", err)
	}
	if n > maxSupervisorState {
		return st, fmt.Errorf("the supervisor's state is larger than %d bytes", maxSupervisorState)
	}
	if err := json.Unmarshal(b[:n], &st); err != nil {
		return st, fmt.Errorf("the supervisor's state: %w", err)
	}
	if len(st.Secret) != secretSize {
		return st, errors.New("the supervisor's state has no secret")
	}
	var errs []error
	check := func(fd int) {
		if fd < 3 {
			errs = append(errs, fmt.Errorf("fd %d is not one a state can name", fd))
			return
		}
		if err := inheritable(fd); err != nil {
			errs = append(errs, err)
			return
		}
		markCloseOnExec(fd)
	}
	for _, s := range st.Held {
		check(s.Fd)
	}
	for _, g := range st.Gens {
		check(g.Link)
		for _, s := range g.Socks {
			check(s.Fd)
		}
		for _, f := range g.Files {
			check(f.Fd)
		}
		if g.PID < 2 {
			errs = append(errs, fmt.Errorf("worker PID %d", g.PID))
		}
	}
	for _, pid := range st.Exiting {
		if pid < 2 {
			errs = append(errs, fmt.Errorf("exiting worker PID %d", pid))
		}
	}
	return st, errors.Join(errs...)
}

// resumeSupervisor rebuilds the lifecycle of a supervisor from the state
// its previous image left; it returns the restart and stop signals that
// image caught and did not handle.
func (p *Process) resumeSupervisor(l *lifecycle, st supervisorState, rp *reaper) (restarts, stops []os.Signal, err error) {
	copy(p.lineage.secret[:], st.Secret)
	p.totals = newTotals(st.Totals)
	p.lastRestart.Store(st.RestartNanos)
	l.workers = st.Workers
	l.again = st.Again
	sockets := func(ss []stateSocket) []*socket {
		var out []*socket
		for _, s := range ss {
			addr, packet, err := inspectSocket(s.Fd)
			if err != nil {
				p.logger.Warn("the supervisor's previous image passed a socket that is not one", "name", s.Name, "error", err)
				closeFd(s.Fd)
				continue
			}
			out = append(out, &socket{name: s.Name, fd: s.Fd, addr: addr, packet: packet, from: "supervisor", fdName: s.FdName})
		}
		return out
	}
	l.held = sockets(st.Held)
	for _, sg := range st.Gens {
		lk, err := openLink(sg.Link)
		if err != nil {
			return nil, nil, fmt.Errorf("graceful: worker %d's link: %w", sg.PID, err)
		}
		c := followWorker(p.sys, sg.PID, lk, rp)
		g := &gen{kind: genWorker, n: sg.N, pid: sg.PID, child: c, took: sg.Took, lastPong: time.Now(), stopLimit: max(sg.StopLimit, 0)}
		g.state = stDraining
		for _, s := range []genState{stServing, stProbation, stDraining, stStopping} {
			if s.String() == sg.State {
				g.state = s
			}
		}
		g.socks = sockets(sg.Socks)
		for _, f := range sg.Files {
			g.files = append(g.files, heldFile{f.passedFile, f.Fd})
		}
		l.gens = append(l.gens, g)
		l.watch(g)
		if g.state == stDraining || g.state == stStopping {
			l.deadline(g) // released or told to stop by the previous image
		}
	}
	if rp == nil {
		// A PID 1's reaper collects every child; otherwise nothing waits
		// for these, and each would stay a zombie for this image's life.
		// One the previous image reaped just before it executed this one
		// is not a child any more: the check comes before this image
		// starts a worker, which could be given the same PID.
		exited := func(pid int, status string) {
			p.logger.Info("a worker the previous image did not hand over has exited", "worker_pid", pid, "status", status)
		}
		for _, pid := range st.Exiting {
			if status, running := pollChild(pid); running {
				go func() { exited(pid, p.sys.wait(pid)) }()
			} else if status != "" {
				exited(pid, status)
			}
		}
	}
	if cur := l.find(stServing); cur != nil {
		// The sockets held for the next worker are the serving worker's
		// (see handOver): one set of descriptors, not two copies, so that
		// what that worker stops using is closed once.
		closeSockets(l.held, nil)
		l.held = cur.socks
	}
	if st.ProbationLeft > 0 && l.find(stProbation) != nil {
		l.armProbation(st.ProbationLeft)
	}
	for _, name := range st.Signals {
		if sig, err := SignalByName(name); err == nil {
			restarts = append(restarts, sig)
		} else if sig, err := stopSignalByName(name); err == nil {
			stops = append(stops, sig)
		}
	}
	cur := l.find(stServing)
	serving := 0
	if cur != nil {
		serving = cur.pid
	}
	p.logger.Info("the supervisor runs its new image", "workers", len(l.gens), "serving_worker_pid", serving)
	if p.cfg.Mode != RestartModeSupervisor {
		p.logger.Warn("process.mode changed: it takes effect at the next start; the supervisor goes on", "mode", p.cfg.Mode)
	}
	if cur != nil {
		p.notify(fmt.Sprintf("READY=1\nSTATUS=serving (worker %d, pid %d)", cur.n, cur.pid))
		if p.cfg.PIDFile != "" {
			if err := writePIDFile(p.cfg.PIDFile, p.pid); err != nil {
				p.logger.Warn("the PID file could not be written", "error", err)
			}
		}
	}
	l.sendTotals()
	return restarts, stops, nil
}
