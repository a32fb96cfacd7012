// Package prometheus exports the lifecycle of a [graceful.Process] as
// Prometheus metrics.
//
// Its name is the one of its directory, as Go wants, and so the same as
// client_golang's: import it under another name, such as
//
//	import (
//		"github.com/prometheus/client_golang/prometheus"
//		gracekitprom "github.com/gracekit/gracekit/prometheus"
//	)
//
//	reg := prometheus.NewRegistry()
//	if err := gracekitprom.Register(reg, proc); err != nil { ... }
//	// serve promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) on a path
//
// The collector reads [graceful.Process.Stats] when Prometheus scrapes, and
// only then: nothing is added to the request path, which costs the same
// with and without it (see BenchmarkRequest). The graceful package itself
// does not depend on Prometheus.
//
// # Metrics
//
// Every name starts with gracekit_. The counters marked "lineage" are the
// service's, not the process's: each generation starts from the counts of
// the one before it, so they never go back across restarts (in either
// restart mode). The per-server metrics are the serving generation's:
// gracekit_http_requests_total starts again from zero in every new
// generation, a counter reset that rate() and increase() handle as they
// handle any restart of a process.
//
//	name                                   type     labels                     meaning
//	gracekit_info                          gauge    role, pid                  always 1; the role (process, worker) and PID of the serving process
//	gracekit_generation                    gauge                               generation of the serving process (1 for the first)
//	gracekit_ready                         gauge                               1 while this process serves (it has neither handed over nor begun to stop), else 0
//	gracekit_generations_alive             gauge                               processes holding the service's sockets: the serving one and those draining or in probation
//	gracekit_restarts_total                counter  result=succeeded|failed    restarts by outcome (lineage); a refused restart counts as failed
//	gracekit_rollbacks_total               counter                             times an old generation served again after the new one died in probation (lineage)
//	gracekit_restart_duration_seconds      gauge                               duration of the last successful restart, start to new generation ready; 0 before the first
//	gracekit_drains_total                  counter                             finished drains of HTTP servers (lineage)
//	gracekit_drain_requests_served_total   counter                             requests begun during a drain on connections already open (lineage)
//	gracekit_drain_cut_connections_total   counter                             busy connections closed when a drain timed out (lineage)
//	gracekit_drain_cut_requests_total      counter                             requests running on those connections (lineage)
//	gracekit_drain_hijacked_closed_total   counter                             hijacked connections closed because their handlers did not in time (lineage)
//	gracekit_http_in_flight_requests       gauge    address                    requests whose handler is running, per server
//	gracekit_http_connections              gauge    address, state=new|active|idle|hijacked   open connections by state, per server
//	gracekit_http_requests_total           counter  address                    requests served by this generation's server (resets on restart)
//	gracekit_http_draining                 gauge    address                    1 once the server has begun to drain, else 0
//
// docs/metrics.md has the same table.
package prometheus

import (
	"strconv"

	"github.com/gracekit/gracekit/graceful"
	"github.com/prometheus/client_golang/prometheus"
)

// StatsSource is what the collector reads: *graceful.Process is one.
type StatsSource interface {
	Stats() graceful.ProcessStats
}

// Register registers on reg a collector of p's metrics, read at scrape
// time. It fails as reg.Register does, for one when the metrics are
// registered twice.
func Register(reg prometheus.Registerer, p StatsSource) error {
	return reg.Register(NewCollector(p))
}

// NewCollector returns the collector that [Register] registers, for those
// who register it themselves (with prometheus.WrapRegistererWith, say).
func NewCollector(p StatsSource) prometheus.Collector {
	return &collector{src: p, d: newDescs()}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gracekit_"+name, help, labels, nil)
}

// descs are the descriptions of the collector's metrics.
type descs struct {
	info, generation, ready, alive, restarts, rollbacks, restartDur, drains, drainServed, drainCut, drainCutReqs, drainHijack, inFlight, conns, requests, draining *prometheus.Desc
}

func newDescs() *descs {
	return &descs{
		info:         desc("info", "Always 1: the role and PID of the serving process.", "role", "pid"),
		generation:   desc("generation", "Generation of the serving process, 1 for the first."),
		ready:        desc("ready", "1 while this process serves (it has neither handed over nor begun to stop), else 0."),
		alive:        desc("generations_alive", "Processes holding the service's sockets: the serving one and those draining or in probation."),
		restarts:     desc("restarts_total", "Restarts by outcome, over the life of the service; a refused restart counts as failed.", "result"),
		rollbacks:    desc("rollbacks_total", "Times an old generation served again because the new one died within the probation."),
		restartDur:   desc("restart_duration_seconds", "Duration of the last successful restart, from its start to the new generation's ready; 0 before the first."),
		drains:       desc("drains_total", "Finished drains of HTTP servers, over the life of the service."),
		drainServed:  desc("drain_requests_served_total", "Requests begun during a drain on connections already open, over the life of the service."),
		drainCut:     desc("drain_cut_connections_total", "Busy connections closed when a drain timed out or was cut short, over the life of the service."),
		drainCutReqs: desc("drain_cut_requests_total", "Requests running on the connections a drain cut, over the life of the service."),
		drainHijack:  desc("drain_hijacked_closed_total", "Hijacked connections a drain closed because their handlers had not, over the life of the service."),
		inFlight:     desc("http_in_flight_requests", "Requests whose handler is running.", "address"),
		conns:        desc("http_connections", "Open connections by state.", "address", "state"),
		requests:     desc("http_requests_total", "Requests served by this generation's server; starts from 0 in every generation.", "address"),
		draining:     desc("http_draining", "1 once the server has begun to drain, else 0.", "address"),
	}
}

type collector struct {
	src StatsSource
	d   *descs
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.d.info, c.d.generation, c.d.ready, c.d.alive, c.d.restarts, c.d.rollbacks, c.d.restartDur,
		c.d.drains, c.d.drainServed, c.d.drainCut, c.d.drainCutReqs, c.d.drainHijack,
		c.d.inFlight, c.d.conns, c.d.requests, c.d.draining,
	} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.d.info, 1, string(st.Role), strconv.Itoa(st.PID))
	gauge(c.d.generation, float64(st.Generation))
	gauge(c.d.ready, b2f(st.Ready))
	gauge(c.d.alive, float64(st.GenerationsAlive))
	counter(c.d.restarts, st.RestartsSucceeded, "succeeded")
	counter(c.d.restarts, st.RestartsFailed, "failed")
	counter(c.d.rollbacks, st.Rollbacks)
	gauge(c.d.restartDur, st.LastRestartDuration.Seconds())
	counter(c.d.drains, st.Drains)
	counter(c.d.drainServed, st.ServedWhileDraining)
	counter(c.d.drainCut, st.CutConns)
	counter(c.d.drainCutReqs, st.CutRequests)
	counter(c.d.drainHijack, st.HijackedClosed)
	seen := map[string]bool{}
	for i, s := range st.Servers {
		addr := s.Address
		if addr == "" || seen[addr] {
			// Two servers on one address cannot be told apart by it.
			addr = addr + "#" + strconv.Itoa(i)
		}
		seen[addr] = true
		gauge(c.d.inFlight, float64(s.InFlightRequests), addr)
		gauge(c.d.conns, float64(s.NewConns), addr, "new")
		gauge(c.d.conns, float64(s.ActiveConns), addr, "active")
		gauge(c.d.conns, float64(s.IdleConns), addr, "idle")
		gauge(c.d.conns, float64(s.HijackedConns), addr, "hijacked")
		counter(c.d.requests, s.TotalRequests, addr)
		gauge(c.d.draining, b2f(s.Draining), addr)
	}
}
