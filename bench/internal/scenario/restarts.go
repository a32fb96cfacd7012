// Package scenario runs the bench's measurements against live subject
// instances: restarts under load, cold starts, throughput, failure
// scenarios and allocations.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// RestartOptions tune restarts under load.
type RestartOptions struct {
	// Clients is how many clients of each kind run during a block.
	Clients [loadgen.NumKinds]int
	// Interval is the steady load between the old process's exit and the
	// next signal.
	Interval time.Duration
	// Warmup is the load before the first signal of a block.
	Warmup time.Duration
	// HandoverTimeout bounds the wait for a new PID to answer.
	HandoverTimeout time.Duration
	// ExitTimeout bounds the wait for the old process to exit.
	ExitTimeout time.Duration
	// SampleAfter lists the restart counts after which the serving
	// process's fds and RSS are sampled, with no load.
	SampleAfter []int
	// Max, when above 0, ends a RestartLoop after that many restarts.
	Max int
}

// Resource is a sample of the serving process.
type Resource struct {
	Restarts, PID, FDs, RSSKiB int
}

// Lane is the timeline of one block, for the plot.
type Lane struct {
	Subject string
	Width   time.Duration
	Buckets []load.Bucket
	// Restarts are the signal times since the start of the timeline.
	Restarts []time.Duration
}

// Lineage is one subject instance restarted block after block; its stats
// accumulate.
type Lineage struct {
	In *subject.Instance

	Restarts       int
	FailedRestarts int
	Load           load.Summary
	Handover       []time.Duration
	OldExit        []time.Duration
	OldNotExited   int
	MaxZombies     int
	Resources      []Resource
	Lane           *Lane
	Notes          []string
	Elapsed        time.Duration
}

// NewLineage wraps a launched instance.
func NewLineage(in *subject.Instance) *Lineage {
	return &Lineage{In: in}
}

// SampleIdle samples the fds and RSS of the serving process once its fd
// count has settled (two equal readings 100 ms apart, at most 3 s): with
// no load, the count holds no client connection.
func (l *Lineage) SampleIdle() {
	pid, err := l.In.PIDFromFile()
	if err != nil {
		l.note("sampling after %d restarts: %v", l.Restarts, err)
		return
	}
	prev := -1
	for range 30 {
		n, err := proc.FDCount(pid)
		if err != nil || n == prev {
			break
		}
		prev = n
		time.Sleep(100 * time.Millisecond) // settling interval, bounded by the loop
	}
	l.sample(pid)
}

func (l *Lineage) sample(pid int) {
	fds, err1 := proc.FDCount(pid)
	rss, err2 := proc.RSSKiB(pid)
	if err1 != nil || err2 != nil {
		l.note("sampling %d after %d restarts: %v %v", pid, l.Restarts, err1, err2)
		return
	}
	l.Resources = append(l.Resources, Resource{Restarts: l.Restarts, PID: pid, FDs: fds, RSSKiB: rss})
}

func (l *Lineage) note(format string, args ...any) {
	if len(l.Notes) < 20 {
		l.Notes = append(l.Notes, fmt.Sprintf(format, args...))
	}
}

// Block drives load at the lineage and restarts it n times, one restart
// at a time: signal, wait for a response from a new PID, wait for the old
// process to exit, keep the load steady for Interval. With lane set it
// also keeps the block's timeline.
func (l *Lineage) Block(ctx context.Context, n int, o RestartOptions, lane bool) error {
	start := time.Now()
	defer func() { l.Elapsed += time.Since(start) }()
	rec := load.NewRecorder(100 * time.Millisecond)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Drive(lctx, l.In.Addr, o.Clients, rec) })
	defer func() {
		stop()
		wg.Wait()
		l.Load.Merge(rec.Summary())
	}()
	var markers []time.Duration
	if lane {
		defer func() {
			l.Lane = &Lane{Subject: l.In.Name, Width: rec.Width(), Buckets: rec.Timeline(), Restarts: markers}
		}()
	}
	if !sleepCtx(ctx, o.Warmup) {
		return ctx.Err()
	}
	consecutive := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		old, err := l.In.PIDFromFile()
		if err != nil || !l.In.Tree.Contains(old) {
			return fmt.Errorf("%s: no serving process before restart %d: %v", l.In.Name, l.Restarts+1, err)
		}
		drain(rec.NewPIDs())
		t0 := time.Now()
		markers = append(markers, t0.Sub(rec.Start()))
		if err := l.In.Signal(old, syscall.SIGHUP); err != nil {
			return fmt.Errorf("%s: %w", l.In.Name, err)
		}
		ev, ok := waitNewPID(ctx, rec, old, t0, o.HandoverTimeout)
		if !ok {
			l.FailedRestarts++
			consecutive++
			l.note("restart %d: no answer from a new pid within %s (log: %s)", l.Restarts+1, o.HandoverTimeout, l.In.LogTail(3))
			if consecutive >= 3 {
				return fmt.Errorf("%s: three restarts in a row did not hand over", l.In.Name)
			}
			continue
		}
		consecutive = 0
		l.Handover = append(l.Handover, ev.At.Sub(t0))
		if _, err := l.In.WaitServing(old, 5*time.Second); err != nil {
			l.note("restart %d: %v", l.Restarts+1, err)
		}
		exited, err := proc.WaitExit(old, o.ExitTimeout)
		switch {
		case err != nil:
			l.note("restart %d: %v", l.Restarts+1, err)
		case exited:
			l.OldExit = append(l.OldExit, time.Since(t0))
		default:
			l.OldNotExited++
			l.note("restart %d: old process %d still alive %s after the signal", l.Restarts+1, old, o.ExitTimeout)
		}
		l.Restarts++
		l.MaxZombies = max(l.MaxZombies, len(LingeringZombies(l.In)))
		if !sleepCtx(ctx, o.Interval) {
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// LingeringZombies returns the zombies of the instance's tree that are
// still unreaped a zombieLinger later: a child that has just exited and
// is about to be reaped is not one.
func LingeringZombies(in *subject.Instance) []proc.Proc {
	z, err := in.Tree.Zombies()
	if err != nil || len(z) == 0 {
		return nil
	}
	time.Sleep(zombieLinger)
	again, err := in.Tree.Zombies()
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(again, func(p proc.Proc) bool {
		return !slices.ContainsFunc(z, func(q proc.Proc) bool { return q.PID == p.PID })
	})
}

// waitNewPID waits for the first response from a pid other than old,
// seen after t0.
func waitNewPID(ctx context.Context, rec *load.Recorder, old int, t0 time.Time, timeout time.Duration) (load.PIDEvent, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-rec.NewPIDs():
			if ev.PID != old && !ev.At.Before(t0) {
				return ev, true
			}
		case <-timer.C:
			return load.PIDEvent{}, false
		case <-ctx.Done():
			return load.PIDEvent{}, false
		}
	}
}

func drain(c <-chan load.PIDEvent) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// sleepCtx waits d unless ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// SteadyLane drives the same load at a subject that is not restarted, for
// the timeline's baseline lane.
func SteadyLane(ctx context.Context, in *subject.Instance, d time.Duration, o RestartOptions) (*Lane, load.Summary) {
	rec := load.NewRecorder(100 * time.Millisecond)
	lctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	load.Drive(lctx, in.Addr, o.Clients, rec)
	return &Lane{Subject: in.Name, Width: rec.Width(), Buckets: rec.Timeline()}, rec.Summary()
}

// streamProtocol is the Upgrade token of the subjects' stream endpoint.
const streamProtocol = handler.StreamProtocol
