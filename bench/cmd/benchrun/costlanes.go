package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/report"
	"github.com/gracekit/gracekit/bench/internal/scenario"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/testcert"
)

// The lanes that price each step of a restart and each request against
// tableflip and net/http: callgrind, handover, scale, idle, rss.

// gracekitMetrics is examples/reload with its Prometheus metrics on, as
// its own reload.yaml has them.
const gracekitMetrics = "gracekit+metrics"

// gracekitMetricsConfig is gracekitConfig with process.metricsPath set.
const gracekitMetricsConfig = "# written by the bench driver\nprocess:\n  probation: 0s\n  metricsPath: /metrics\n"

// costParams size the lanes.
type costParams struct {
	callgrind        scenario.CallgrindOptions
	callgrindRepeats int
	handoverRounds   int
	exitRounds       int
	scaleSizes       []int
	scaleRounds      int
	idleSizes        []int
	idleTransports   []string
	idleRounds       int
	rssRounds        int
	pause            time.Duration
}

// smokeCost is fullCost cut down to a few rounds (-smoke): enough to see
// that every lane works, not to measure.
func smokeCost() costParams {
	p := fullCost()
	p.callgrind.Warm, p.callgrind.Measure = 200, 200
	p.callgrindRepeats = 1
	p.handoverRounds, p.exitRounds, p.scaleRounds, p.idleRounds, p.rssRounds = 3, 2, 2, 1, 2
	p.scaleSizes = []int{1, 50}
	p.idleSizes = []int{100}
	return p
}

func fullCost() costParams {
	return costParams{
		callgrind:        scenario.CallgrindOptions{Warm: 20000, Measure: 4000, StartTimeout: 2 * time.Minute},
		callgrindRepeats: 3,
		handoverRounds:   40,
		exitRounds:       15,
		scaleSizes:       []int{1, 10, 100, 500},
		scaleRounds:      8,
		idleSizes:        []int{100, 1000, 5000},
		idleTransports:   idleTransports,
		idleRounds:       3,
		rssRounds:        10,
		pause:            150 * time.Millisecond,
	}
}

// restartSubjects returns the specs of the handover and rss lanes: both
// gracekit variants when examples/reload exists, graceful.Process and
// tableflip, all restartable.
func (r *runner) restartSubjects() []subject.Spec {
	var out []subject.Spec
	if s, ok := r.cat.specs[gracekit]; ok {
		out = append(out, s)
		s.Name, s.ValidConfig = gracekitMetrics, gracekitMetricsConfig
		out = append(out, s)
	}
	for _, n := range []string{gracefulProc, tableflip} {
		s := r.cat.specs[n]
		s.Restartable = true
		out = append(out, s)
	}
	return out
}

// launchAll starts every spec; on an error it stops those it started.
func (r *runner) launchAll(specs []subject.Spec) ([]*subject.Instance, error) {
	var ins []*subject.Instance
	for _, s := range specs {
		in, err := r.launchSpec(s)
		if err != nil {
			stopAll(ins)
			return nil, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}

func stopAll(ins []*subject.Instance) {
	for _, in := range ins {
		in.Stop(40 * time.Second)
	}
}

func (r *runner) probe(probes, slow int) func(*subject.Instance) scenario.RestartProbe {
	ro := restartOptions()
	return func(in *subject.Instance) scenario.RestartProbe {
		addrs := in.Addrs()
		if len(addrs) > 1 {
			addrs = []string{addrs[0], addrs[len(addrs)-1]}
		}
		return scenario.RestartProbe{Addrs: addrs, Probes: probes, Slow: slow, Warmup: 100 * time.Millisecond,
			HandoverTimeout: ro.HandoverTimeout, ExitTimeout: ro.ExitTimeout}
	}
}

// callgrindLane counts instructions per keep-alive request of the four
// servers that share the handler, repeats times, alternating.
func (r *runner) callgrindLane(res *report.Results, p costParams) {
	names := []string{nethttp, nethttpTimed, gracefulServer, gracefulProc}
	res.CallgrindBase = nethttpTimed
	res.CallgrindDesc = fmt.Sprintf("Each server runs under `valgrind --tool=callgrind` with `GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1`; one keep-alive connection sends `GET /` %d times, `callgrind_control -d PID` dumps (and zeroes) the counters, the same connection sends %d more, the counters are dumped again, and the server is killed with SIGKILL (callgrind aborts inside Go's SIGTERM handling). Instructions per request = the second dump's total / %d: I(%d) - I(%d), all threads of the server, the idle ones included. %d repeats per server, alternating (the order rotates and reverses from repeat to repeat). Ratios are per repeat against %s, the net/http server with graceful's default timeouts. The warm-up is long because of Go's type-assertion caches: the runtime fills the cache of a call site at random, about once in 1,024 misses, and a site still unfilled when the counting starts adds about 100 instructions to every request (after 2,000 requests, one site in seven is still unfilled; after 20,000, one in 300 million).",
		p.callgrind.Warm, p.callgrind.Measure, p.callgrind.Measure, p.callgrind.Warm+p.callgrind.Measure, p.callgrind.Warm, p.callgrindRepeats, nethttpTimed)
	last := map[string]scenario.CallgrindRun{}
	for rep := 0; rep < p.callgrindRepeats && r.ctx.Err() == nil; rep++ {
		for _, n := range scenario.RoundOrder(names, rep) {
			run, err := scenario.Callgrind(r.ctx, r.cat.specs[n], r.work, p.callgrind)
			if err != nil {
				res.CallgrindErrors = append(res.CallgrindErrors, err.Error())
				fmt.Println("  ", err)
				continue
			}
			run.Repeat = rep
			fmt.Printf("  callgrind %s (repeat %d): %.0f instructions per request\n", n, rep+1, run.PerRequest)
			res.Callgrind = append(res.Callgrind, run)
			last[n] = run
		}
	}
	for _, pair := range [][2]string{{gracefulServer, nethttpTimed}, {nethttpTimed, nethttp}} {
		a, okA := last[pair[0]]
		b, okB := last[pair[1]]
		if !okA || !okB {
			continue
		}
		d, err := scenario.CompareFuncs(a, b, 15)
		if err != nil {
			res.CallgrindErrors = append(res.CallgrindErrors, err.Error())
			continue
		}
		res.CallgrindFuncs = append(res.CallgrindFuncs, report.FuncComparison{A: pair[0], B: pair[1], Funcs: d})
	}
}

// handoverLane measures handover and the old generation's exit of every
// restartable subject, alternating round by round: first with probes
// only, then with 250 ms keep-alive requests in flight.
func (r *runner) handoverLane(res *report.Results, p costParams) error {
	ins, err := r.launchAll(r.restartSubjects())
	if err != nil {
		return err
	}
	defer stopAll(ins)
	res.HandoverDesc = fmt.Sprintf("Subjects: gracekit is examples/reload with `process.probation: 0s` (as in the restart figures), gracekit+metrics the same with `process.metricsPath: /metrics` as well (its Prometheus metrics on, as its own reload.yaml has them), graceful.Process and tableflip the bench's subjects with the shared handler. One restart at a time (SIGHUP to the PID in the PID file), subjects alternating round by round in an order that rotates and reverses, %s of quiet between two restarts. **Handover**: %d rounds with two clients that open a new connection for every `GET /` and nothing else; from the signal to the first answer from the new PID. **Old exit**: %d further rounds with four keep-alive clients asking `GET /?sleep=250ms` back to back (so that a request is always in flight on the old process) and one new-connection client; from the signal to the old process's exit (seen through a pidfd). p50 and p99 over the rounds; the ratio is of the p50s, and beside it the median [lowest-highest] of the per-round ratios.",
		p.pause, p.handoverRounds, p.exitRounds)
	res.Handover = scenario.RestartRounds(r.ctx, ins, p.handoverRounds, p.pause, r.probe(2, 0))
	printSeries("handover", res.Handover)
	res.OldExit = scenario.RestartRounds(r.ctx, ins, p.exitRounds, p.pause, r.probe(1, 4))
	printSeries("old exit", res.OldExit)
	return nil
}

// scaleLane restarts graceful.Process and tableflip serving n sockets
// each, for every n of p.scaleSizes.
func (r *runner) scaleLane(res *report.Results, p costParams) error {
	res.ScaleDesc = fmt.Sprintf("graceful.Process with n servers (`Process.NewServer` for each of n consecutive ports) against tableflip with n listeners (`Upgrader.Listen` for each, all served by one `http.Server`). %d alternating rounds per n: a new-connection client on the first and on the last port, and two keep-alive clients asking `GET /?sleep=250ms` back to back on each of them. Handover: signal to the first answer from the new PID on both ports; old exit: signal to the old process's exit. graceful.Process@REV, when present, is the graceful.Process subject built from revision REV of the repository (`-base REV`), restarted in the same alternating rounds.",
		p.scaleRounds)
	for _, n := range p.scaleSizes {
		if r.ctx.Err() != nil {
			break
		}
		var specs []subject.Spec
		for _, name := range []string{gracefulProc, gracefulProcBase, tableflip} {
			s, ok := r.cat.specs[name]
			if !ok {
				continue // no -base
			}
			s.Restartable, s.Servers = true, n
			specs = append(specs, s)
		}
		ins, err := r.launchAll(specs)
		if err != nil {
			return err
		}
		series := scenario.RestartRounds(r.ctx, ins, p.scaleRounds, p.pause, r.probe(1, 2))
		stopAll(ins)
		printSeries(fmt.Sprintf("scale %d", n), series)
		res.Scale = append(res.Scale, report.ScaleRow{Servers: n, Series: series})
	}
	return nil
}

// rssLane samples the resident memory of the old and the new process
// during handovers.
func (r *runner) rssLane(res *report.Results, p costParams) error {
	ins, err := r.launchAll(r.restartSubjects())
	if err != nil {
		return err
	}
	defer stopAll(ins)
	res.RSSDesc = fmt.Sprintf("The subjects of the handover lane. VmRSS of the old process plus that of its live children (the new generation is one until the old process exits), read from /proc about every millisecond from the signal until the old process exits; the most they held together in each restart. %d alternating rounds, two new-connection clients as in the handover lane; each instance has already served since its start (a warm-up of 3 restarts is not counted).", p.rssRounds)
	probe := r.probe(2, 0)
	scenario.RestartRounds(r.ctx, ins, 3, p.pause, probe)
	res.RSS = scenario.RestartRounds(r.ctx, ins, p.rssRounds, p.pause, func(in *subject.Instance) scenario.RestartProbe {
		pr := probe(in)
		pr.SampleRSS = true
		return pr
	})
	for _, s := range res.RSS {
		var kib []time.Duration
		for _, x := range s.Samples {
			kib = append(kib, time.Duration(x.RSSKiB))
		}
		fmt.Printf("  rss %s: median %.1f MiB over %d restarts, %d errors\n", s.Subject, float64(report.Quantile(kib, 0.5))/1024, len(s.Samples), len(s.Errors))
	}
	return nil
}

func printSeries(what string, ss []*scenario.RestartSeries) {
	for _, s := range ss {
		failed, reqs, _ := s.Failed()
		fmt.Printf("  %s %s: p50 handover %s, p50 old exit %s over %d restarts, %d of %d requests failed, %d errors\n",
			what, s.Subject, report.Quantile(s.Handovers(), 0.5), report.Quantile(s.OldExits(), 0.5), len(s.Samples), failed, reqs, len(s.Errors))
	}
}

// idleTransports are the idle lane's transports: plain HTTP, TLS with
// clients that keep no session, TLS with clients that each keep theirs.
var idleTransports = []string{"http", "tls", "tls-resume"}

// idleLane restarts graceful.Process and tableflip while each holds n
// idle keep-alive connections, over each transport of p.idleTransports,
// for every n of p.idleSizes.
func (r *runner) idleLane(res *report.Results, p costParams) error {
	dir := filepath.Join(r.work, "tls-idle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cert, err := testcert.New(dir)
	if err != nil {
		return err
	}
	o := scenario.IdleOptions{SteadyEvery: 5 * time.Millisecond, Before: time.Second, Rounds: p.idleRounds, Pause: 1300 * time.Millisecond,
		HandoverTimeout: 15 * time.Second, ExitTimeout: 40 * time.Second}
	res.IdleDesc = fmt.Sprintf("n keep-alive connections that each got one answer and then sit idle (as pooled connections do between requests); when the server closes one, its client reconnects at once (the pool opens its first connections 64 at a time, but never holds a reconnection back, as independent clients would not), sends one `GET /` and sits idle again on the new connection (its dial and TLS handshake, and then its request and answer, each get 10 s; a reconnect that takes longer counts as failed), so a restart makes a wave of reconnects (and, with TLS, of handshakes) into the new process, shaped by the server alone. Beside them a steady client, a process of its own (so that its latencies are not those of the load generator's scheduler, busy with the reconnects), sends `GET /` every %s on a new connection each time and, in a second loop, every %s on one keep-alive connection; its latency runs from when a request was due, so a request held up by the one before it counts its wait. %d alternating restarts per subject and n, plain HTTP and TLS (HTTP/1.1, a certificate made for the run), the TLS clients either keeping no session (every reconnect a full handshake) or, as browsers and nginx's upstream connections do, each keeping the session of its last connection and offering its ticket when it reconnects (\"TLS, resuming\"; the steady client never resumes). Resumed: the reconnects whose session the new process resumed, per restart. Old exit: signal to the old process's exit. Close spread: from the first idle connection the old process closed to the last. Steady p99 in the wave: the steady client's requests due from the signal until the old process has exited and every reconnected client has its answer, all rounds together; since that p99 falls as the window grows with quiet requests (a server that waits before it closes anything adds them), the count of the wave's steady requests over 20 ms, per restart, which does not; beside them the p99 of the second before each signal (restarts are 1.3 s apart after a wave, so that second holds none of the wave before). graceful.Process@REV, when present, is the graceful.Process subject built from revision REV of the repository (`-base REV`), restarted in the same alternating rounds. Failures count the idle clients' reconnects and the steady client's requests; the steady keep-alive loop never retries, so a keep-alive connection closed under its next request is a failure.",
		o.SteadyEvery, o.SteadyEvery, o.Rounds)
	for _, n := range p.idleSizes {
		for _, transport := range p.idleTransports {
			if r.ctx.Err() != nil {
				return nil
			}
			var specs []subject.Spec
			o := o
			o.Conns, o.TLS = n, nil
			useTLS := transport != "http"
			if useTLS {
				o.TLS, o.CAFile = cert.ClientConfig("http/1.1"), cert.CertFile
			}
			if transport == "tls-resume" {
				// A marker: the pool gives each client a cache of its own.
				o.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			for _, name := range []string{gracefulProc, gracefulProcBase, tableflip} {
				s, ok := r.cat.specs[name]
				if !ok {
					continue // no -base
				}
				s.Restartable = true
				if useTLS {
					s.Extra = append(append([]string(nil), s.Extra...), "-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile)
					s.TLS = o.TLS
				}
				specs = append(specs, s)
			}
			ins, err := r.launchAll(specs)
			if err != nil {
				return err
			}
			runs := scenario.IdleLane(r.ctx, ins, o)
			stopAll(ins)
			for _, run := range runs {
				var exits []time.Duration
				var wave []load.SteadyRequest
				for _, rd := range run.Rounds {
					exits = append(exits, rd.OldExit)
					wave = append(wave, rd.Wave...)
				}
				fmt.Printf("  idle %d %s %s: old exit p50 %s, steady p99 in the wave %s, %d of %d failed %s %s\n", n, transport, run.Subject,
					report.Quantile(exits, 0.5), report.Quantile(scenario.SteadyLatencies(wave), 0.99), run.Failed, run.Requests, run.FirstFailure, run.Err)
			}
			res.Idle = append(res.Idle, runs...)
		}
	}
	return nil
}
