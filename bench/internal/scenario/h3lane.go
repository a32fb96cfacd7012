package scenario

import (
	"context"
	"crypto/tls"
	"os"
	"sync"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/load"
)

// H3LaneOptions tune the HTTP/3 lane.
type H3LaneOptions struct {
	// Restarts per subject; Interval is the steady load after each.
	Restarts int
	Interval time.Duration
	// Warmup is the load before the first restart, Tail after the last.
	Warmup, Tail time.Duration
	// CurlWorkers and GtlsWorkers run loops of curl --http3-only and
	// gtlsclient (a new connection per request) beside one quic-go client
	// that holds its connection.
	CurlWorkers, GtlsWorkers int
	// Root is the root file system whose curl speaks HTTP/3.
	Root string
	// Timeout bounds a request of the held client.
	Timeout time.Duration
}

// H3Run is one HTTP/3 lane run against one subject.
type H3Run struct {
	Subject  string
	Duration time.Duration
	Restarts RestartCount
	// Curl, Gtls and Held count each client's requests.
	Curl, Gtls, Held *load.H3Tally
	// Err is set when the subject did not start.
	Err string
}

// Failed is the number of failed requests of every client.
func (r H3Run) Failed() int {
	n := 0
	for _, t := range []*load.H3Tally{r.Curl, r.Gtls, r.Held} {
		if t != nil {
			n += t.Failed
		}
	}
	return n
}

// H3Lane drives the HTTP/3 clients at addr (which serves with a
// certificate cfg trusts) while restart restarts the subject; the
// clients start Warmup before the restarts and stop Tail after them.
// dir receives gtlsclient's bodies.
func H3Lane(ctx context.Context, name, addr string, cfg *tls.Config, dir string, restart func(context.Context) RestartCount, o H3LaneOptions) H3Run {
	run := H3Run{Subject: name, Curl: &load.H3Tally{}, Gtls: &load.H3Tally{}, Held: &load.H3Tally{}}
	url := "https://" + addr + "/"
	_ = os.MkdirAll(dir, 0o755)
	begin := time.Now()
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { extclient.H3CurlLoop(cctx, o.Root, url, o.CurlWorkers, run.Curl) })
	wg.Go(func() { extclient.GtlsLoop(cctx, addr, url, dir, o.GtlsWorkers, run.Gtls) })
	wg.Go(func() { load.HeldH3(cctx, url, cfg, o.Timeout, run.Held) })
	if sleepCtx(ctx, o.Warmup) {
		run.Restarts = restart(ctx)
		sleepCtx(ctx, o.Tail)
	}
	stop()
	wg.Wait()
	run.Duration = time.Since(begin)
	return run
}

// ReloadLoop calls reload n times, one after the other, with interval of
// steady load after each; a reload's duration counts as its handover.
func ReloadLoop(ctx context.Context, n int, interval time.Duration, reload func(context.Context) error) RestartCount {
	var c RestartCount
	for c.Restarts+c.NoHandover < n && ctx.Err() == nil {
		t0 := time.Now()
		if err := reload(ctx); err != nil {
			c.NoHandover++
			c.note("reload %d: %v", c.Restarts+c.NoHandover, err)
			continue
		}
		c.Handover = append(c.Handover, time.Since(t0))
		c.Restarts++
		if !sleepCtx(ctx, interval) {
			break
		}
	}
	return c
}
