package scenario

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// IdleOptions tune the idle-connections lane.
type IdleOptions struct {
	// Conns is the number of idle keep-alive connections.
	Conns int
	// TLS, when set, makes every client speak TLS (HTTP/1.1 only); the
	// steady client, in a process of its own, trusts CAFile. With a
	// ClientSessionCache in it, each idle client keeps its own session
	// (see load.StartIdlePool); the steady client never resumes.
	TLS    *tls.Config
	CAFile string
	// SteadyEvery is the interval of each of the steady client's loops.
	SteadyEvery time.Duration
	// Before is the steady client's reference window before the signal.
	Before time.Duration
	// Rounds restarts per subject, alternating.
	Rounds int
	// Pause is the quiet between two restarts: longer than Before, so
	// that the reference window of a restart holds none of the wave of
	// the one before.
	Pause time.Duration
	// HandoverTimeout and ExitTimeout bound the waits of a restart.
	HandoverTimeout, ExitTimeout time.Duration
}

// IdleRound is one restart with idle connections.
type IdleRound struct {
	Round int
	// OldExit is from the signal to the old process's exit.
	OldExit time.Duration
	// Closed counts the idle connections the old process closed; Spread
	// is from the first of those closes to the last, and LastAnswer from
	// the signal to the last reconnected client's answer.
	Closed             int
	Spread, LastAnswer time.Duration
	// Resumed counts the reconnects that resumed their TLS session.
	Resumed int
	// Wave is the steady client's requests due from the signal to the
	// end of the wave (the old process's exit or the last reconnected
	// answer, whichever is later); Reference those due in the Before
	// window ahead of the signal.
	Wave, Reference []load.SteadyRequest
	Err             string
}

// IdleRun is the rounds of one subject with one number of idle
// connections, plain or TLS.
type IdleRun struct {
	Subject string
	Conns   int
	TLS     bool
	// Resume is true when the idle clients keep a TLS session cache.
	Resume bool
	Rounds []IdleRound
	// Failed counts the idle clients' failed requests (and dials) and
	// the steady client's; Requests all of them.
	Failed, Requests int
	FirstFailure     string
	Err              string
}

// idleInstance is an instance with its idle pool and steady client.
type idleInstance struct {
	in     *subject.Instance
	pool   *load.IdlePool
	steady *load.SteadyClient
	run    *IdleRun
}

// IdleLane opens o.Conns idle keep-alive connections to each instance and
// runs a steady client against it, then restarts the instances in
// alternating rounds: each restart measures the old process's exit, how
// the old process spread the closing of the idle connections, and the
// steady client's latency while the clients reconnect.
func IdleLane(ctx context.Context, ins []*subject.Instance, o IdleOptions) []IdleRun {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var xs []*idleInstance
	for _, in := range ins {
		x := &idleInstance{in: in, run: &IdleRun{Subject: in.Name, Conns: o.Conns, TLS: o.TLS != nil, Resume: o.TLS != nil && o.TLS.ClientSessionCache != nil}}
		x.pool = load.StartIdlePool(lctx, in.Addr, o.TLS, o.Conns)
		xs = append(xs, x)
		// The steady client runs in a process of its own, so that its
		// latencies are not those of this process's scheduler, which the
		// idle clients keep busy when they reconnect.
		var err error
		if x.steady, err = load.StartSteadyProcess(lctx, in.Addr, o.CAFile, o.SteadyEvery); err != nil {
			x.run.Err = err.Error()
			x.steady = &load.SteadyClient{}
		}
	}
	for _, x := range xs {
		if !x.pool.WaitConnected(ctx, o.Conns, 60*time.Second) {
			x.run.Err = fmt.Sprintf("only %d of %d idle connections open after 60 s", x.pool.Connected(), o.Conns)
		}
	}
	sleepCtx(ctx, max(o.Before, o.Pause))
	for round := 0; round < o.Rounds && ctx.Err() == nil; round++ {
		for _, x := range RoundOrder(xs, round) {
			if x.run.Err != "" || ctx.Err() != nil {
				continue
			}
			r := idleRestart(ctx, x, o)
			r.Round = round
			x.run.Rounds = append(x.run.Rounds, r)
			if r.Err != "" {
				x.run.Err = r.Err
			}
			sleepCtx(ctx, o.Pause)
		}
	}
	stop()
	out := make([]IdleRun, len(xs))
	for i, x := range xs {
		x.pool.Wait()
		x.steady.Wait()
		failed, reqs, first := x.pool.Failed()
		x.run.Failed, x.run.Requests, x.run.FirstFailure = failed, reqs, first
		all := x.steady.Between(time.Time{}, time.Now().Add(time.Hour))
		x.run.Requests += len(all)
		for _, r := range all {
			if !r.OK {
				x.run.Failed++
				if x.run.FirstFailure == "" {
					x.run.FirstFailure = "steady client: " + r.Err
				}
			}
		}
		out[i] = *x.run
	}
	return out
}

func idleRestart(ctx context.Context, x *idleInstance, o IdleOptions) IdleRound {
	var r IdleRound
	if !x.pool.WaitConnected(ctx, o.Conns, 30*time.Second) {
		r.Err = fmt.Sprintf("only %d of %d idle connections open before the restart", x.pool.Connected(), o.Conns)
		return r
	}
	old, err := x.in.PIDFromFile()
	if err != nil || !x.in.Tree.Contains(old) {
		r.Err = fmt.Sprintf("no serving process before the restart: %v", err)
		return r
	}
	t0 := time.Now()
	if err := x.in.Signal(old, syscall.SIGHUP); err != nil {
		r.Err = err.Error()
		return r
	}
	ok, err := proc.WaitExit(old, o.ExitTimeout)
	r.OldExit = time.Since(t0)
	if err != nil || !ok {
		r.Err = fmt.Sprintf("old process %d did not exit within %s: %v", old, o.ExitTimeout, err)
		return r
	}
	// Every idle connection the old process held is closed now; wait
	// for their clients' answers from the new one.
	deadline := time.Now().Add(o.HandoverTimeout)
	var closes, answered []time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		closes, answered = x.pool.Since(t0)
		if len(answered) >= len(closes) && x.pool.Connected() >= o.Conns {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling interval, bounded by deadline
	}
	r.Closed = len(closes)
	r.Resumed = x.pool.ResumedSince(t0)
	if len(closes) > 0 {
		r.Spread = slices.MaxFunc(closes, time.Time.Compare).Sub(slices.MinFunc(closes, time.Time.Compare))
	}
	end := t0.Add(r.OldExit)
	if len(answered) > 0 {
		last := slices.MaxFunc(answered, time.Time.Compare)
		r.LastAnswer = last.Sub(t0)
		if last.After(end) {
			end = last
		}
	}
	// Let the requests due in the wave finish before reading them.
	sleepCtx(ctx, 100*time.Millisecond+o.SteadyEvery)
	r.Wave = x.steady.Between(t0, end)
	r.Reference = x.steady.Between(t0.Add(-o.Before), t0)
	if _, err := x.in.WaitServing(old, 10*time.Second); err != nil {
		r.Err = err.Error()
	}
	return r
}

// SteadyLatencies returns the latencies of the successful requests among
// rs, sorted.
func SteadyLatencies(rs []load.SteadyRequest) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if r.OK {
			out = append(out, r.Latency)
		}
	}
	slices.Sort(out)
	return out
}
