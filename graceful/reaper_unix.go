//go:build unix

package graceful

import (
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaper collects every child that exits, for a supervisor that is PID 1:
// orphans of any depth are re-parented to PID 1, and a PID 1 that does not
// reap them fills the process table with zombies. Workers it started are
// reported to the callback they were registered with.
type reaper struct {
	logger  *slog.Logger
	sigs    chan os.Signal
	done    chan struct{}
	mu      sync.Mutex
	watched map[int]func(status string)
	early   map[int]string // reaped before they were watched
}

func newReaper(logger *slog.Logger) *reaper {
	r := &reaper{
		logger:  logger,
		sigs:    make(chan os.Signal, 8),
		done:    make(chan struct{}),
		watched: map[int]func(string){},
		early:   map[int]string{},
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.run()
	return r
}

// watch registers the callback for a child's exit.
func (r *reaper) watch(pid int, exited func(status string)) {
	r.mu.Lock()
	if status, ok := r.early[pid]; ok {
		delete(r.early, pid)
		r.mu.Unlock()
		exited(status)
		return
	}
	r.watched[pid] = exited
	r.mu.Unlock()
	// The child may have exited before this registration.
	r.reap()
}

func (r *reaper) run() {
	for {
		select {
		case <-r.sigs:
			r.reap()
		case <-r.done:
			return
		}
	}
}

// reap collects every child that has exited.
func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		status := waitStatusString(ws)
		r.mu.Lock()
		cb, ok := r.watched[pid]
		delete(r.watched, pid)
		if !ok {
			r.early[pid] = status
			if len(r.early) > 1024 {
				clear(r.early)
			}
		}
		r.mu.Unlock()
		if ok {
			cb(status)
		} else {
			r.logger.Debug("reaped an orphan", "orphan_pid", pid, "status", status)
		}
	}
}

func (r *reaper) stop() {
	signal.Stop(r.sigs)
	close(r.done)
}

// waitStatusString describes an exit like os.ProcessState does.
func waitStatusString(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	}
	return "stopped"
}
