package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/report"
	"github.com/gracekit/gracekit/bench/internal/scenario"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// fullCommand is the documented command that regenerates RESULTS.md.
const fullCommand = "cd bench && go run ./cmd/benchrun"

// endlessNote records why endless is not among the subjects.
const endlessNote = "github.com/fvbock/endless: the module proxy this machine reaches answers 403 \"not available\" for it, so it cannot be built here (abandoned since 2017)."

func (r *runner) full(benchDir, rootDir string, started time.Time) error {
	o := r.opts
	res := &report.Results{
		Machine:     report.DescribeMachine(rootDir, scenario.WrkVersion()),
		Command:     fullCommand,
		Block:       o.block,
		OldExits:    map[string]map[string]int{},
		Stops:       map[string]subject.StopReport{},
		NotMeasured: []string{endlessNote},
	}
	if r.cat.gracekitMissing != "" {
		res.NotMeasured = append(res.NotMeasured, "gracekit: "+r.cat.gracekitMissing)
	}
	res.Machine.Tools = toolVersions()
	res.Subjects = r.subjectLines()
	ro := restartOptions()
	res.LoadDesc = describeLoad(ro)

	step := func(name string) { fmt.Printf("[%s] %s\n", time.Since(started).Round(time.Second), name) }

	want := func(part string) bool { return o.only == "" || strings.Contains(","+o.only+",", ","+part+",") }

	if want("restarts") {
		step("figures 1, 2, 5: restarts under load")
		if err := r.restartRuns(res, ro); err != nil {
			return err
		}
	}
	if want("cold") {
		step("figure 2: cold starts")
		if err := r.coldStarts(res, ro); err != nil {
			return err
		}
	}
	if want("throughput") {
		step("figure 3: throughput with wrk")
		if err := r.throughput(res); err != nil {
			return err
		}
		step("figure 3: allocations")
		allocs, err := scenario.Allocs(r.ctx, benchDir, 6)
		if err != nil {
			return err
		}
		res.Allocs = allocs
	}
	if want("faults") {
		step("figure 4: failure scenarios")
		r.faults(res)
	}
	if want("h2") {
		step("figure 6: HTTP/2 lane")
		desc, runs, skip := r.h2Lane(fullLanes())
		if skip != "" {
			fmt.Println("SKIP", skip)
			res.NotMeasured = append(res.NotMeasured, skip)
		}
		res.H2Desc, res.H2 = desc, runs
	}
	if want("nginx") {
		step("figure 7: nginx in front")
		desc, runs, skip := r.nginxLane(fullLanes())
		if skip != "" {
			fmt.Println("SKIP", skip)
			res.NotMeasured = append(res.NotMeasured, skip)
		}
		res.NginxDesc, res.Nginx = desc, runs
	}
	cp := fullCost()
	if o.smoke {
		cp = smokeCost()
	}
	if o.idleSizes != "" {
		sizes, err := parseSizes(o.idleSizes)
		if err != nil {
			return fmt.Errorf("-idle-sizes: %w", err)
		}
		cp.idleSizes = sizes
	}
	if o.idleTransports != "" {
		cp.idleTransports = nil
		for _, t := range strings.Split(o.idleTransports, ",") {
			if !slices.Contains(idleTransports, t) {
				return fmt.Errorf("-idle-transports: %q is not one of %s", t, strings.Join(idleTransports, ", "))
			}
			cp.idleTransports = append(cp.idleTransports, t)
		}
	}
	if o.scaleSizes != "" {
		sizes, err := parseSizes(o.scaleSizes)
		if err != nil {
			return fmt.Errorf("-scale-sizes: %w", err)
		}
		cp.scaleSizes = sizes
	}
	if o.idleRounds > 0 {
		cp.idleRounds = o.idleRounds
	}
	if o.scaleRounds > 0 {
		cp.scaleRounds = o.scaleRounds
	}
	if want("callgrind") {
		step("figure 8: instructions per request (callgrind)")
		if err := extclient.Need("valgrind", "callgrind_control"); err != nil {
			skip := "callgrind lane skipped: " + err.Error()
			fmt.Println("SKIP", skip)
			res.NotMeasured = append(res.NotMeasured, skip)
		} else {
			r.callgrindLane(res, cp)
		}
	}
	if want("handover") {
		step("figure 9: handover and old exit against tableflip")
		if err := r.handoverLane(res, cp); err != nil {
			return err
		}
	}
	if want("scale") {
		step("figure 10: many sockets and servers")
		if err := r.scaleLane(res, cp); err != nil {
			return err
		}
	}
	if want("idle") {
		step("figure 11: idle keep-alive connections at the restart")
		if err := r.idleLane(res, cp); err != nil {
			return err
		}
	}
	if want("rss") {
		step("figure 12: memory of old + new during a handover")
		if err := r.rssLane(res, cp); err != nil {
			return err
		}
	}
	if want("h3") {
		step("figure 13: HTTP/3 under restarts against quic-go + tableflip and Caddy")
		r.h3Lane(res, benchDir, rootDir)
	}
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("run cut short: %w", err)
	}

	step("writing results")
	outPath, plotPath := abs(benchDir, o.out), abs(benchDir, o.plot)
	if len(res.Lanes) > 0 && !o.merge {
		if err := report.Timeline(plotPath, res.Lanes); err != nil {
			return err
		}
		if rel, err := filepath.Rel(filepath.Dir(outPath), plotPath); err == nil {
			res.Plot = rel
		}
	}
	if o.only != "" {
		res.Command += " -only " + o.only
	}
	if o.smoke {
		res.Command += " -smoke"
	}
	if o.merge {
		res.Command += " -merge"
	}
	if o.base != "" {
		res.Command += " -base " + o.base
	}
	if o.idleSizes != "" {
		res.Command += " -idle-sizes " + o.idleSizes
	}
	if o.idleRounds > 0 {
		res.Command += fmt.Sprintf(" -idle-rounds %d", o.idleRounds)
	}
	if o.idleTransports != "" {
		res.Command += " -idle-transports " + o.idleTransports
	}
	if o.scaleSizes != "" {
		res.Command += " -scale-sizes " + o.scaleSizes
	}
	if o.scaleRounds > 0 {
		res.Command += fmt.Sprintf(" -scale-rounds %d", o.scaleRounds)
	}
	res.Took = time.Since(started)
	var md bytes.Buffer
	if err := report.Markdown(&md, res); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	out := md.Bytes()
	if o.merge {
		old, err := os.ReadFile(outPath)
		if err != nil {
			return fmt.Errorf("results: -merge needs an existing %s: %w", o.out, err)
		}
		out = []byte(report.Merge(string(old), md.String(), res.Command))
	}
	if err := os.WriteFile(outPath, out, 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	fmt.Printf("wrote %s and %s in %s\n", o.out, o.plot, time.Since(started).Round(time.Second))
	return nil
}

// abs resolves a path given relative to the bench directory.
func abs(benchDir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(benchDir, p)
}

func describeLoad(ro scenario.RestartOptions) string {
	var parts []string
	for k := range loadgen.NumKinds {
		if n := ro.Clients[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return fmt.Sprintf("%s clients at once, unpaced (slow-get asks for ?sleep=250ms), 1 KiB POST bodies, a %s restart interval, 127.0.0.1 only.",
		strings.Join(parts, ", "), ro.Interval)
}

func (r *runner) subjectLines() []string {
	var out []string
	if _, ok := r.cat.specs[gracekit]; ok {
		out = append(out, fmt.Sprintf("**gracekit**: `%s` of the root module, built from this commit; SIGHUP re-executes it. %s", gracekitPkg, probationNote))
	}
	out = append(out,
		"**tableflip**: github.com/cloudflare/tableflip v1.2.3 used as its README and net/http example show (`subjects/tableflip`): Upgrader with a PID file, Upgrade on SIGHUP, Listen, Ready, Exit, then a 30 s deadline and `http.Server.Shutdown`. SIGTERM is mapped to `Upgrader.Stop` (the example has no SIGTERM handling).",
		"**nethttp**: a plain `net/http` server with the same handler (`subjects/nethttp`); throughput baseline, no restarts.",
		"**graceful.Server**: gracekit's `graceful.Server` with the same handler (`subjects/gracefulserver`), no restarts; isolates the library's per-request cost from whatever examples/reload does besides.",
		"**graceful.Process**: the same handler served through `graceful.Process` as examples/reload does (`subjects/gracefulprocess`); SIGHUP re-executes it; rollback off, as for gracekit. In the throughput figure, to tell the process layer's cost from the example handler's; in the HTTP/2 lane (over TLS through `Server.CreateListenerTLS`) and the nginx lane as gracekit's subject with the shared handler.",
		"**tableflip** in the HTTP/2 lane: the same subject with `-tls-cert`/`-tls-key`, serving through `http.Server.ServeTLS` with `TLSNextProto` unset, so net/http offers h2 itself.",
		"**nethttp+timeouts**: the nethttp subject with `graceful.DefaultServerConfig()`'s ReadTimeout, ReadHeaderTimeout, WriteTimeout, IdleTimeout and MaxHeaderBytes (`-graceful-timeouts`); beside graceful.Server it separates the cost of those defaults from the library's own mechanics.",
		"All of them serve the handler of `internal/handler` (`pid=` in the body, `?sleep=`, POST bodies read to the end, `/stream` hijacked stream), except gracekit, whose handler is examples/reload's own.",
	)
	return out
}

// blockBounds returns the restart counts at which blocks end: every
// multiple of block, every sample point, and total.
func blockBounds(total, block int, samples []int) []int {
	var out []int
	for n := block; n < total; n += block {
		out = append(out, n)
	}
	for _, s := range samples {
		if s > 0 && s < total {
			out = append(out, s)
		}
	}
	out = append(out, total)
	slices.Sort(out)
	return slices.Compact(out)
}

// restartRuns restarts every restartable subject o.restarts times, in
// alternating blocks, keeping one lineage per subject alive throughout.
func (r *runner) restartRuns(res *report.Results, ro scenario.RestartOptions) error {
	var lineages []*scenario.Lineage
	for _, name := range r.cat.restartable() {
		in, err := r.launch(name)
		if err != nil {
			return err
		}
		lineages = append(lineages, scenario.NewLineage(in))
	}
	res.Lineages = lineages
	for _, l := range lineages {
		l.SampleIdle()
	}
	bounds := blockBounds(r.opts.restarts, r.opts.block, ro.SampleAfter)
	prev, laneDone := 0, false
	for _, end := range bounds {
		if r.ctx.Err() != nil {
			break
		}
		n := end - prev
		lane := !laneDone && n >= r.opts.block/2
		laneDone = laneDone || lane
		for _, l := range lineages {
			if err := l.Block(r.ctx, n, ro, lane); err != nil {
				l.Notes = append(l.Notes, "block stopped: "+err.Error())
			}
			if slices.Contains(ro.SampleAfter, l.Restarts) {
				l.SampleIdle()
			}
			fmt.Printf("  %s: %d restarts, %d requests, %d failed\n", l.In.Name, l.Restarts, l.Load.TotalRequests(), l.Load.TotalFailed())
		}
		prev = end
	}
	for _, l := range lineages {
		if l.Lane != nil {
			res.Lanes = append(res.Lanes, l.Lane)
		}
	}
	// The baseline lane: the same load at nethttp, as long as the first
	// restart block took.
	if len(res.Lanes) > 0 {
		in, err := r.launch(nethttp)
		if err != nil {
			return err
		}
		d := time.Duration(len(res.Lanes[0].Buckets)) * res.Lanes[0].Width
		lane, sum := scenario.SteadyLane(r.ctx, in, d, ro)
		if n := sum.TotalFailed(); n > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("The baseline lane (%s without restarts) had %d failed requests of %d, first: %v", nethttp, n, sum.TotalRequests(), sum.Samples[0]))
		}
		lane.Subject = nethttp + " (baseline, no restarts)"
		res.Lanes = append(res.Lanes, lane)
		in.Stop(40 * time.Second)
	}
	for _, l := range lineages {
		res.Stops[l.In.Name] = l.In.Stop(40 * time.Second)
		exits := map[string]int{}
		for _, e := range l.In.Tree.Exits() {
			exits[e.Status]++
		}
		res.OldExits[l.In.Name] = exits
	}
	return nil
}

// coldStarts measures the floor: alternating cold starts of each
// restartable subject, idle and under load against another server.
func (r *runner) coldStarts(res *report.Results, ro scenario.RestartOptions) error {
	names := r.cat.restartable()
	stats := make([]report.ColdStat, len(names))
	for i, n := range names {
		stats[i].Subject = n
	}
	measure := func(loaded bool) error {
		for round := 0; round < r.opts.rounds*2 && r.ctx.Err() == nil; round++ {
			for i, n := range names {
				d, err := scenario.ColdStart(r.ctx, r.cat.specs[n], r.work)
				if err != nil {
					return err
				}
				if loaded {
					stats[i].Loaded = append(stats[i].Loaded, d)
				} else {
					stats[i].Idle = append(stats[i].Idle, d)
				}
			}
		}
		return nil
	}
	if err := measure(false); err != nil {
		return err
	}
	in, err := r.launch(nethttp)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Drive(ctx, in.Addr, ro.Clients, load.NewRecorder(time.Second)) })
	err = measure(true)
	stop()
	wg.Wait()
	in.Stop(40 * time.Second)
	res.Cold = stats
	return err
}

// throughput runs wrk against nethttp, gracekit and graceful.Server in
// alternating rounds.
func (r *runner) throughput(res *report.Results) error {
	order := []string{nethttp}
	if _, ok := r.cat.specs[gracekit]; ok {
		order = append(order, gracekit)
	}
	order = append(order, gracefulProc, gracefulServer, nethttpTimed)
	for _, n := range order[1:] {
		res.Ratios = append(res.Ratios, [2]string{n, nethttp})
	}
	res.Ratios = append(res.Ratios, [2]string{gracefulServer, nethttpTimed})
	ins := map[string]*subject.Instance{}
	for _, n := range order {
		in, err := r.launch(n)
		if err != nil {
			return err
		}
		ins[n] = in
	}
	wo := scenario.WrkOptions{Threads: 1, Conns: 32, Duration: 3 * time.Second}
	res.WrkDesc = fmt.Sprintf("`wrk -t%d -c%d -d%s http://ADDR/` (keep-alive GET /) against each server in turn, %d alternating rounds (A B C D E, then E D C B A), after a 1 s warm-up each; wrk and the server share the machine's %d cores.",
		wo.Threads, wo.Conns, wo.Duration, r.opts.rounds, res.Machine.Cores)
	for _, n := range order {
		if _, err := scenario.Wrk(r.ctx, ins[n].Addr, scenario.WrkOptions{Threads: 1, Conns: 32, Duration: time.Second}); err != nil {
			return err
		}
	}
	for round := 0; round < r.opts.rounds && r.ctx.Err() == nil; round++ {
		rd := report.Round{Order: order, RPS: map[string]float64{}, Errors: map[string]int{}}
		// A B C, then C B A: alternating, and a drift of the machine
		// over a round does not favour one subject.
		seq := slices.Clone(order)
		if round%2 == 1 {
			slices.Reverse(seq)
		}
		for _, n := range seq {
			w, err := scenario.Wrk(r.ctx, ins[n].Addr, wo)
			if err != nil {
				return err
			}
			rd.RPS[n], rd.Errors[n] = w.RPS, w.Errors
		}
		fmt.Printf("  round %d: %v\n", round+1, rd.RPS)
		res.Throughput = append(res.Throughput, rd)
	}
	for _, n := range order {
		ins[n].Stop(40 * time.Second)
	}
	return nil
}

// faults runs every failure scenario on every restartable subject,
// alternating subjects within each scenario.
func (r *runner) faults(res *report.Results) {
	fo := scenario.FaultOptions{
		CrashBin: r.cat.bins["fault-crash"],
		HangBin:  r.cat.bins["fault-hang"],
		HangWait: 75 * time.Second,
		Clients:  [loadgen.NumKinds]int{loadgen.KeepAliveGet: 1, loadgen.KeepAlivePost: 1, loadgen.NewConnGet: 1},
	}
	for _, f := range scenario.Faults {
		if !strings.Contains(f.Name, r.opts.faultFilter) {
			continue
		}
		for _, name := range r.cat.restartable() {
			if r.ctx.Err() != nil {
				return
			}
			fr := scenario.RunFault(r.ctx, func() (*subject.Instance, error) { return r.launch(name) }, f, fo)
			if fr.Subject == "" {
				fr.Subject = name
			}
			fmt.Printf("  %s / %s: serving %s, %d/%d failed, next restart %s; %s\n", f.Name, name, fr.Serving, fr.Failed, fr.Requests, fr.NextRestart, fr.Detail)
			res.Faults = append(res.Faults, fr)
		}
	}
}

// parseSizes parses a comma-separated list of positive numbers.
func parseSizes(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
