package scenario

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// RestartProbe describes the traffic around one measured restart.
type RestartProbe struct {
	// Addrs are the addresses probed; empty means the instance's first.
	Addrs []string
	// Probes is the number of new-connection GET clients per address,
	// which see the first answer from the new process.
	Probes int
	// Slow is the number of keep-alive clients per address asking
	// ?sleep=250ms, so that requests are in flight on the old process
	// when it is told to go.
	Slow int
	// Warmup is the load before the signal.
	Warmup time.Duration
	// HandoverTimeout bounds the wait for a new PID to answer at every
	// address; ExitTimeout the wait for the old process to exit.
	HandoverTimeout, ExitTimeout time.Duration
	// SampleRSS samples the resident memory of the old and the new
	// process from the new one's first answer until the old one exits.
	SampleRSS bool
}

// RestartSample is what one measured restart showed.
type RestartSample struct {
	// Round is the round of RestartRounds the sample is from.
	Round int
	// Handover is from the signal to the first answer from a new PID at
	// the slowest of the probed addresses.
	Handover time.Duration
	// OldExit is from the signal to the old process's exit.
	OldExit time.Duration
	// RSSKiB is the most resident memory the old and the new process
	// held together while both lived (SampleRSS).
	RSSKiB int
	// Requests and Failed count the probes' and slow clients' requests.
	Requests, Failed int
	// FirstFailure describes the first failed request, if any.
	FirstFailure string
}

// MeasureRestart drives p's clients at in, signals SIGHUP to the process
// the PID file names, and measures the handover (signal to the first
// answer from another PID at every probed address) and the old process's
// exit (signal to exit, seen through a pidfd). It returns once the PID
// file names the new process and the load has stopped.
func MeasureRestart(ctx context.Context, in *subject.Instance, p RestartProbe) (s RestartSample, err error) {
	old, err := in.PIDFromFile()
	if err != nil || !in.Tree.Contains(old) {
		return s, fmt.Errorf("%s: no serving process before the restart: %v", in.Name, err)
	}
	addrs := p.Addrs
	if len(addrs) == 0 {
		addrs = []string{in.Addr}
	}
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	recs := make([]*load.Recorder, len(addrs))
	for i, a := range addrs {
		recs[i] = load.NewRecorder(100 * time.Millisecond)
		clients := [loadgen.NumKinds]int{loadgen.NewConnGet: p.Probes, loadgen.Slow: p.Slow}
		wg.Go(func() { load.Drive(lctx, a, clients, recs[i]) })
	}
	defer func() {
		stop()
		wg.Wait()
		var sum load.Summary
		for _, r := range recs {
			sum.Merge(r.Summary())
		}
		s.Requests, s.Failed = sum.TotalRequests(), sum.TotalFailed()
		if len(sum.Samples) > 0 {
			s.FirstFailure = sum.Samples[0].String()
		}
	}()
	if !sleepCtx(ctx, p.Warmup) {
		return s, ctx.Err()
	}
	for _, r := range recs {
		drain(r.NewPIDs())
	}
	t0 := time.Now()
	if err := in.Signal(old, syscall.SIGHUP); err != nil {
		return s, fmt.Errorf("%s: %w", in.Name, err)
	}
	exited := make(chan struct{})
	var rssDone chan struct{}
	if p.SampleRSS {
		rssDone = make(chan struct{})
		go func() {
			defer close(rssDone)
			s.RSSKiB = sampleRSS(old, exited)
		}()
	}
	defer func() {
		close(exited)
		if rssDone != nil {
			<-rssDone
		}
	}()
	for i, r := range recs {
		ev, ok := waitNewPID(ctx, r, old, t0, p.HandoverTimeout)
		if !ok {
			return s, fmt.Errorf("%s: no answer from a new process at %s within %s (log: %s)", in.Name, addrs[i], p.HandoverTimeout, in.LogTail(3))
		}
		s.Handover = max(s.Handover, ev.At.Sub(t0))
	}
	ok, err := proc.WaitExit(old, p.ExitTimeout)
	s.OldExit = time.Since(t0)
	switch {
	case err != nil:
		return s, fmt.Errorf("%s: %w", in.Name, err)
	case !ok:
		return s, fmt.Errorf("%s: old process %d still alive %s after the signal", in.Name, old, p.ExitTimeout)
	}
	if _, err := in.WaitServing(old, 10*time.Second); err != nil {
		return s, err
	}
	return s, nil
}

// sampleRSS adds up, about every millisecond, the resident memory of old
// and of its live children (the new generation is one until old exits),
// until stop closes or old has exited, and returns the largest sum.
func sampleRSS(old int, stop <-chan struct{}) int {
	most := 0
	for n := 0; n < 600_000 && proc.Alive(old); n++ {
		sum, err := proc.RSSKiB(old)
		if err != nil {
			return most
		}
		kids, _ := proc.Descendants(old)
		for _, k := range kids {
			if !k.Zombie() {
				if kib, err := proc.RSSKiB(k.PID); err == nil {
					sum += kib
				}
			}
		}
		most = max(most, sum)
		select {
		case <-stop:
			return most
		case <-time.After(time.Millisecond):
		}
	}
	return most
}

// RestartSeries is the samples of one subject in a lane.
type RestartSeries struct {
	Subject string
	Samples []RestartSample
	// Errors are restarts that could not be measured.
	Errors []string
}

// Handovers returns the handover durations of the series.
func (r *RestartSeries) Handovers() []time.Duration {
	return collect(r.Samples, func(s RestartSample) time.Duration { return s.Handover })
}

// OldExits returns the old process's exit times of the series.
func (r *RestartSeries) OldExits() []time.Duration {
	return collect(r.Samples, func(s RestartSample) time.Duration { return s.OldExit })
}

// Failed adds up the failed requests of the series.
func (r *RestartSeries) Failed() (failed, requests int, first string) {
	for _, s := range r.Samples {
		failed += s.Failed
		requests += s.Requests
		if first == "" {
			first = s.FirstFailure
		}
	}
	return failed, requests, first
}

func collect(ss []RestartSample, f func(RestartSample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// RestartRounds restarts every instance once per round, rounds times, in
// an order that rotates and reverses from round to round (RoundOrder), so
// that a drift of the machine favours no subject, with pause between two
// restarts. Sample i of every series comes from round i, unless a restart
// failed, which is noted in the series' Errors instead. A failed restart
// stops the series of that subject after three in a row.
func RestartRounds(ctx context.Context, ins []*subject.Instance, rounds int, pause time.Duration, probe func(*subject.Instance) RestartProbe) []*RestartSeries {
	series := make([]*RestartSeries, len(ins))
	idx := make([]int, len(ins))
	for i, in := range ins {
		series[i] = &RestartSeries{Subject: in.Name}
		idx[i] = i
	}
	failing := make([]int, len(ins))
	for round := 0; round < rounds && ctx.Err() == nil; round++ {
		for _, i := range RoundOrder(idx, round) {
			if failing[i] >= 3 || ctx.Err() != nil {
				continue
			}
			s, err := MeasureRestart(ctx, ins[i], probe(ins[i]))
			if err != nil {
				failing[i]++
				series[i].Errors = append(series[i].Errors, fmt.Sprintf("round %d: %v", round+1, err))
				if failing[i] >= 3 {
					series[i].Errors = append(series[i].Errors, "three restarts in a row failed: no more rounds for this subject")
				}
				continue
			}
			failing[i] = 0
			s.Round = round
			series[i].Samples = append(series[i].Samples, s)
			sleepCtx(ctx, pause)
		}
	}
	return series
}

// RoundRatios returns, sorted, for every round in which both series have
// a sample, the ratio of a's value to b's.
func RoundRatios(a, b *RestartSeries, f func(RestartSample) float64) []float64 {
	var out []float64
	for _, x := range a.Samples {
		for _, y := range b.Samples {
			if x.Round == y.Round && f(x) > 0 && f(y) > 0 {
				out = append(out, f(x)/f(y))
			}
		}
	}
	slices.Sort(out)
	return out
}
