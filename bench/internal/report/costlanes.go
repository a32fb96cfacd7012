package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/gracekit/gracekit/bench/internal/scenario"
)

// costLanes writes the sections of the callgrind, handover, scale, idle
// and rss lanes, each with the command that produced it.
func (p *printer) costLanes(r *Results) {
	p.callgrind(r)
	p.handoverLane(r)
	p.scale(r)
	p.idle(r)
	p.rss(r)
}

func (p *printer) command(r *Results) {
	p.f("Command: `%s` (%s).\n\n", r.Command, r.Machine.Date)
}

// tableflipName is the subject the restart lanes compare against.
const tableflipName = "tableflip"

func (p *printer) callgrind(r *Results) {
	if len(r.Callgrind) == 0 && len(r.CallgrindErrors) == 0 {
		return
	}
	p.f("## 8. Instructions per keep-alive request (callgrind)\n\n")
	p.command(r)
	p.f("%s\n\n", r.CallgrindDesc)
	var names []string
	by := map[string][]scenario.CallgrindRun{}
	for _, c := range r.Callgrind {
		if _, ok := by[c.Subject]; !ok {
			names = append(names, c.Subject)
		}
		by[c.Subject] = append(by[c.Subject], c)
	}
	base := by[r.CallgrindBase]
	p.header("server", "repeats", "instructions per request (median)", "each repeat", "spread (max-min)/median", "ratio to "+r.CallgrindBase+" (median)", "per-repeat ratios")
	for _, n := range names {
		var xs, ratios []float64
		var each []string
		for _, c := range by[n] {
			xs = append(xs, c.PerRequest)
			each = append(each, fmt.Sprintf("%.0f", c.PerRequest))
			for _, b := range base {
				if b.Repeat == c.Repeat && b.PerRequest > 0 {
					ratios = append(ratios, c.PerRequest/b.PerRequest)
				}
			}
		}
		med := median(xs)
		spread := "-"
		if med > 0 {
			spread = fmt.Sprintf("%.1f%%", 100*(slices.Max(xs)-slices.Min(xs))/med)
		}
		ratio, per := "-", "-"
		if len(ratios) > 0 {
			ratio = fmt.Sprintf("%.3f", median(ratios))
			per = ""
			for i, x := range ratios {
				if i > 0 {
					per += " "
				}
				per += fmt.Sprintf("%.3f", x)
			}
		}
		p.row(n, fmt.Sprint(len(xs)), fmt.Sprintf("%.0f", med), joinStrings(each), spread, ratio, per)
	}
	p.f("\n")
	for _, fc := range r.CallgrindFuncs {
		p.f("Where %s and %s differ, per request, by function (own instructions, callees excluded; from the last repeat's second dumps; the %d largest differences):\n\n", fc.A, fc.B, len(fc.Funcs))
		p.header("function", fc.A, fc.B, "difference")
		for _, d := range fc.Funcs {
			p.row("`"+d.Func+"`", fmt.Sprintf("%.0f", d.A), fmt.Sprintf("%.0f", d.B), fmt.Sprintf("%+.0f", d.A-d.B))
		}
		p.f("\n")
	}
	for _, e := range r.CallgrindErrors {
		p.f("- `%s`\n", e)
	}
	if len(r.CallgrindErrors) > 0 {
		p.f("\n")
	}
}

func joinStrings(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// seriesRatio formats a/b of the p50s and the per-round ratios of f.
func seriesRatio(a, b *scenario.RestartSeries, get func(*scenario.RestartSeries) []time.Duration, f func(scenario.RestartSample) float64) string {
	if a == nil || b == nil || a == b {
		return "-"
	}
	x, y := Quantile(get(a), 0.5), Quantile(get(b), 0.5)
	if x <= 0 || y <= 0 {
		return "-"
	}
	out := fmt.Sprintf("%.2f", float64(x)/float64(y))
	if rs := scenario.RoundRatios(a, b, f); len(rs) > 0 {
		out += fmt.Sprintf(" (%.2f [%.2f-%.2f])", median(rs), rs[0], rs[len(rs)-1])
	}
	return out
}

func findSeries(ss []*scenario.RestartSeries, name string) *scenario.RestartSeries {
	for _, s := range ss {
		if s.Subject == name {
			return s
		}
	}
	return nil
}

func handoverOf(s scenario.RestartSample) float64 { return float64(s.Handover) }
func oldExitOf(s scenario.RestartSample) float64  { return float64(s.OldExit) }

func failures(s *scenario.RestartSeries) string {
	failed, reqs, _ := s.Failed()
	return fmt.Sprintf("%d of %d", failed, reqs)
}

func (p *printer) seriesNotes(ss []*scenario.RestartSeries, prefix string) {
	n := 0
	for _, s := range ss {
		if _, _, first := s.Failed(); first != "" {
			p.f("- %s%s: first failure: `%s`\n", prefix, s.Subject, first)
			n++
		}
		for _, e := range s.Errors {
			p.f("- %s%s: %s\n", prefix, s.Subject, e)
			n++
		}
	}
	if n > 0 {
		p.f("\n")
	}
}

func (p *printer) handoverLane(r *Results) {
	if len(r.Handover) == 0 && len(r.OldExit) == 0 {
		return
	}
	p.f("## 9. Handover and the old generation's exit, against tableflip\n\n")
	p.command(r)
	p.f("%s\n\n", r.HandoverDesc)
	tf := findSeries(r.Handover, tableflipName)
	p.header("subject", "restarts", "handover p50", "handover p99", "handover max", "ratio to tableflip: p50s (per-round median [min-max])", "old exit p50 (probes only)", "failed")
	for _, s := range r.Handover {
		h := s.Handovers()
		p.row(s.Subject, fmt.Sprint(len(s.Samples)), dur(Quantile(h, 0.5)), dur(Quantile(h, 0.99)), dur(Quantile(h, 1)),
			seriesRatio(s, tf, (*scenario.RestartSeries).Handovers, handoverOf), dur(Quantile(s.OldExits(), 0.5)), failures(s))
	}
	p.f("\n")
	p.seriesNotes(r.Handover, "")
	if len(r.OldExit) > 0 {
		tf := findSeries(r.OldExit, tableflipName)
		p.f("With 250 ms keep-alive requests in flight:\n\n")
		p.header("subject", "restarts", "old exit p50", "old exit p99", "old exit max", "ratio to tableflip: p50s (per-round median [min-max])", "handover p50", "failed")
		for _, s := range r.OldExit {
			e := s.OldExits()
			p.row(s.Subject, fmt.Sprint(len(s.Samples)), dur(Quantile(e, 0.5)), dur(Quantile(e, 0.99)), dur(Quantile(e, 1)),
				seriesRatio(s, tf, (*scenario.RestartSeries).OldExits, oldExitOf), dur(Quantile(s.Handovers(), 0.5)), failures(s))
		}
		p.f("\n")
		p.seriesNotes(r.OldExit, "")
	}
}

func (p *printer) scale(r *Results) {
	if len(r.Scale) == 0 {
		return
	}
	p.f("## 10. Many sockets and servers\n\n")
	p.command(r)
	p.f("%s\n\n", r.ScaleDesc)
	p.header("sockets", "subject", "restarts", "handover p50", "handover max", "handover ratio to tableflip: p50s (per round)", "old exit p50", "old exit max", "old exit ratio to tableflip: p50s (per round)", "failed")
	for _, row := range r.Scale {
		tf := findSeries(row.Series, tableflipName)
		for _, s := range row.Series {
			h, e := s.Handovers(), s.OldExits()
			p.row(fmt.Sprint(row.Servers), s.Subject, fmt.Sprint(len(s.Samples)), dur(Quantile(h, 0.5)), dur(Quantile(h, 1)),
				seriesRatio(s, tf, (*scenario.RestartSeries).Handovers, handoverOf),
				dur(Quantile(e, 0.5)), dur(Quantile(e, 1)), seriesRatio(s, tf, (*scenario.RestartSeries).OldExits, oldExitOf), failures(s))
		}
	}
	p.f("\n")
	for _, row := range r.Scale {
		p.seriesNotes(row.Series, fmt.Sprintf("%d sockets, ", row.Servers))
	}
}

// slowSteady is the latency above which a steady request in a reconnect
// wave counts as slow: ten times the quiet p99 of plain HTTP here. Unlike
// the wave's p99, the count does not depend on how long the window is:
// a subject whose wave lasts longer but hurts less is not penalised by
// the quiet requests it adds, nor one that waits before it closes
// anything favoured by them.
const slowSteady = 20 * time.Millisecond

func (p *printer) idle(r *Results) {
	if len(r.Idle) == 0 {
		return
	}
	p.f("## 11. Idle keep-alive connections at the restart\n\n")
	p.command(r)
	p.f("%s\n\n", r.IdleDesc)
	p.header("idle connections", "transport", "subject", "restarts", "old exit p50", "old exit max", "closed by the old process (per restart)", "resumed (per restart)", "close spread p50", "last reconnect answered p50", "steady p50 in the wave", "steady p99 in the wave", "steady max in the wave", fmt.Sprintf("steady over %s in the wave (per restart)", dur(slowSteady)), "steady p99 before", "failed")
	for _, run := range r.Idle {
		var exits, spreads, lasts []time.Duration
		var wave, before []time.Duration
		closed, slow, resumed := 0, 0, 0
		for _, rd := range run.Rounds {
			exits = append(exits, rd.OldExit)
			spreads = append(spreads, rd.Spread)
			lasts = append(lasts, rd.LastAnswer)
			closed += rd.Closed
			resumed += rd.Resumed
			lat := scenario.SteadyLatencies(rd.Wave)
			wave = append(wave, lat...)
			for _, l := range lat {
				if l > slowSteady {
					slow++
				}
			}
			before = append(before, scenario.SteadyLatencies(rd.Reference)...)
		}
		perRestart, slowPer, resumedPer := "-", "-", "-"
		if len(run.Rounds) > 0 {
			perRestart = fmt.Sprint(closed / len(run.Rounds))
			if run.TLS {
				resumedPer = fmt.Sprint(resumed / len(run.Rounds))
			}
			slowPer = fmt.Sprintf("%.1f", float64(slow)/float64(len(run.Rounds)))
		}
		p.row(fmt.Sprint(run.Conns), idleTransport(run), run.Subject, fmt.Sprint(len(run.Rounds)), dur(Quantile(exits, 0.5)), dur(Quantile(exits, 1)),
			perRestart, resumedPer, dur(Quantile(spreads, 0.5)), dur(Quantile(lasts, 0.5)),
			dur(Quantile(wave, 0.5)), dur(Quantile(wave, 0.99)), dur(Quantile(wave, 1)), slowPer, dur(Quantile(before, 0.99)),
			fmt.Sprintf("%d of %d", run.Failed, run.Requests))
	}
	p.f("\n")
	for _, run := range r.Idle {
		transport := idleTransport(run)
		if run.FirstFailure != "" {
			p.f("- %s, %d %s: first failure: `%s`\n", run.Subject, run.Conns, transport, run.FirstFailure)
		}
		if run.Err != "" {
			p.f("- %s, %d %s: %s\n", run.Subject, run.Conns, transport, run.Err)
		}
	}
	p.f("\n")
}

// idleTransport names the transport of an idle lane's run.
func idleTransport(run scenario.IdleRun) string {
	switch {
	case run.Resume:
		return "TLS, resuming"
	case run.TLS:
		return "TLS"
	}
	return "HTTP"
}

func (p *printer) rss(r *Results) {
	if len(r.RSS) == 0 {
		return
	}
	p.f("## 12. Memory of the old and the new process during a handover\n\n")
	p.command(r)
	p.f("%s\n\n", r.RSSDesc)
	mib := func(s *scenario.RestartSeries) []time.Duration {
		var out []time.Duration
		for _, x := range s.Samples {
			out = append(out, time.Duration(x.RSSKiB))
		}
		return out
	}
	tf := findSeries(r.RSS, tableflipName)
	p.header("subject", "restarts", "old + new RSS, median", "max", "ratio to tableflip: medians (per round)", "failed")
	for _, s := range r.RSS {
		k := mib(s)
		ratio := "-"
		if tf != nil && tf != s {
			if a, b := Quantile(k, 0.5), Quantile(mib(tf), 0.5); a > 0 && b > 0 {
				ratio = fmt.Sprintf("%.2f", float64(a)/float64(b))
				if rs := scenario.RoundRatios(s, tf, func(x scenario.RestartSample) float64 { return float64(x.RSSKiB) }); len(rs) > 0 {
					ratio += fmt.Sprintf(" (%.2f [%.2f-%.2f])", median(rs), rs[0], rs[len(rs)-1])
				}
			}
		}
		p.row(s.Subject, fmt.Sprint(len(s.Samples)), fmt.Sprintf("%.1f MiB", float64(Quantile(k, 0.5))/1024), fmt.Sprintf("%.1f MiB", float64(Quantile(k, 1))/1024), ratio, failures(s))
	}
	p.f("\n")
	p.seriesNotes(r.RSS, "")
}
