package scenario

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// RestartCount is what a RestartLoop did.
type RestartCount struct {
	// Restarts handed over; NoHandover did not within the timeout.
	Restarts, NoHandover int
	// Handover is from the signal to the first 200 from the new PID seen
	// by the bench's own probe (a new connection every 2 ms).
	Handover []time.Duration
	Notes    []string
}

func (c *RestartCount) note(format string, args ...any) {
	if len(c.Notes) < 10 {
		c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
	}
}

// RestartLoop restarts in one restart at a time until ctx ends, while
// load the bench does not see runs against it: after Warmup, signal
// SIGHUP to the PID in the PID file, wait until the PID file names a new
// live process that answers the bench's probe, wait for the old process
// to exit, keep the load steady for Interval, repeat (o.Max times, when
// it is above 0).
func RestartLoop(ctx context.Context, in *subject.Instance, o RestartOptions) RestartCount {
	var c RestartCount
	if !sleepCtx(ctx, o.Warmup) {
		return c
	}
	consecutive := 0
	for ctx.Err() == nil && (o.Max == 0 || c.Restarts < o.Max) {
		old, err := in.PIDFromFile()
		if err != nil || !in.Tree.Contains(old) {
			c.note("no serving process before restart %d: %v", c.Restarts+c.NoHandover+1, err)
			return c
		}
		t0 := time.Now()
		if err := in.Signal(old, syscall.SIGHUP); err != nil {
			c.note("signal: %v", err)
			return c
		}
		if _, err := in.WaitServing(old, o.HandoverTimeout); err != nil {
			c.NoHandover++
			consecutive++
			c.note("restart %d: %v (log: %s)", c.Restarts+c.NoHandover, err, in.LogTail(3))
			if consecutive >= 3 {
				c.note("three restarts in a row did not hand over; stopped restarting")
				return c
			}
			continue
		}
		consecutive = 0
		c.Handover = append(c.Handover, time.Since(t0))
		if exited, err := proc.WaitExit(old, o.ExitTimeout); err != nil {
			c.note("restart %d: %v", c.Restarts+1, err)
		} else if !exited {
			c.note("restart %d: old process %d still alive %s after the signal", c.Restarts+1, old, o.ExitTimeout)
		}
		c.Restarts++
		if !sleepCtx(ctx, o.Interval) {
			return c
		}
	}
	return c
}

// restartDuring runs RestartLoop while the load of length d runs, and
// stops signalling a second before the load ends, so that the last
// restart's drain happens under load too. With restart false it only
// waits.
func restartDuring(ctx context.Context, in *subject.Instance, d time.Duration, restart bool, o RestartOptions) func() RestartCount {
	rctx, cancel := context.WithTimeout(ctx, max(d-time.Second, 0))
	var c RestartCount
	done := make(chan struct{})
	go func() {
		defer close(done)
		if restart {
			c = RestartLoop(rctx, in, o)
		}
	}()
	return func() RestartCount {
		<-done
		cancel()
		return c
	}
}

// H2LaneOptions tune the HTTP/2 lane.
type H2LaneOptions struct {
	Duration time.Duration
	// Window is the length of one h2load run; the lane runs h2load again
	// and again, back to back, for Duration. h2load opens a new
	// connection after a GOAWAY but not after a connection that simply
	// closed, so one long run could end up with no live connection.
	Window time.Duration
	H2     extclient.H2Options
	// CurlWorkers run `curl --http2` loops (a new connection per request)
	// beside h2load.
	CurlWorkers int
	// Restart is false for the control run without restarts.
	Restart bool
}

// H2Run is one HTTP/2 lane run against one subject.
type H2Run struct {
	Subject  string
	Restart  bool
	Duration time.Duration
	Restarts RestartCount
	H2       extclient.H2Result
	// H2Err is set when h2load did not run or its output was not read.
	H2Err string
	Curl  extclient.CurlResult
}

// H2Lane drives h2load and the curl loops at in (which serves HTTPS with
// the certificate caFile) for o.Duration, restarting it meanwhile.
func H2Lane(ctx context.Context, in *subject.Instance, caFile string, o H2LaneOptions, ro RestartOptions) H2Run {
	run := H2Run{Subject: in.Name, Restart: o.Restart, Duration: o.Duration}
	url := "https://" + in.Addr + "/"
	restarts := restartDuring(ctx, in, o.Duration, o.Restart, ro)
	cctx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { run.Curl = extclient.CurlLoop(cctx, url, caFile, o.CurlWorkers) })
	end := time.Now().Add(o.Duration)
	for left := time.Until(end); left >= 500*time.Millisecond && ctx.Err() == nil; left = time.Until(end) {
		h2o := o.H2
		h2o.Duration = min(o.Window, left).Truncate(time.Millisecond)
		h2, err := extclient.H2load(ctx, url, h2o)
		if err != nil {
			if run.H2Err == "" {
				run.H2Err = err.Error()
			}
			continue
		}
		run.H2.Add(h2)
	}
	wg.Wait()
	run.Restarts = restarts()
	return run
}

// NginxRun is one run of the nginx-in-front lane against one subject.
type NginxRun struct {
	Subject  string
	Duration time.Duration
	Restarts RestartCount
	Wrk      extclient.WrkResult
	// Err is set when nginx or wrk did not run.
	Err string
	// UpstreamErrors counts nginx's error log lines about the upstream;
	// UpstreamSamples are the first of them.
	UpstreamErrors  int
	UpstreamSamples []string
}

// NginxLane starts nginx in front of in and drives wrk through it for
// wo.Duration while restarting in.
func NginxLane(ctx context.Context, in *subject.Instance, reaperBin, workDir string, wo extclient.WrkOptions, ro RestartOptions) NginxRun {
	run := NginxRun{Subject: in.Name, Duration: wo.Duration}
	ng, err := extclient.StartNginx(reaperBin, workDir, in.Addr)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	defer ng.Close()
	restarts := restartDuring(ctx, in, wo.Duration, true, ro)
	w, err := extclient.Wrk(ctx, "http://"+ng.Addr+"/", wo)
	if err != nil {
		run.Err = err.Error()
	}
	run.Wrk = w
	run.Restarts = restarts()
	run.UpstreamErrors, run.UpstreamSamples = ng.UpstreamErrors(3)
	return run
}
