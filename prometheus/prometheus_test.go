package prometheus_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/graceful"
	gracekitprom "github.com/gracekit/gracekit/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeSource graceful.ProcessStats

func (f *fakeSource) Stats() graceful.ProcessStats { return graceful.ProcessStats(*f) }

func TestCollectorNamesEveryStat(t *testing.T) {
	src := &fakeSource{
		PID: 42, Role: graceful.RoleWorker, Generation: 4, Ready: true, GenerationsAlive: 2,
		RestartsSucceeded: 3, RestartsFailed: 1, Rollbacks: 1, LastRestartDuration: 1500 * time.Millisecond,
		Drains: 3, ServedWhileDraining: 7, CutConns: 2, CutRequests: 5, HijackedClosed: 1,
		Servers: []graceful.Stats{{
			Address: "127.0.0.1:8080", InFlightRequests: 2, TotalRequests: 10,
			NewConns: 1, ActiveConns: 2, IdleConns: 3, HijackedConns: 4,
		}},
	}
	reg := prometheus.NewPedanticRegistry()
	if err := gracekitprom.Register(reg, src); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP gracekit_drain_cut_connections_total Busy connections closed when a drain timed out or was cut short, over the life of the service.
# TYPE gracekit_drain_cut_connections_total counter
gracekit_drain_cut_connections_total 2
# HELP gracekit_drain_cut_requests_total Requests running on the connections a drain cut, over the life of the service.
# TYPE gracekit_drain_cut_requests_total counter
gracekit_drain_cut_requests_total 5
# HELP gracekit_drain_hijacked_closed_total Hijacked connections a drain closed because their handlers had not, over the life of the service.
# TYPE gracekit_drain_hijacked_closed_total counter
gracekit_drain_hijacked_closed_total 1
# HELP gracekit_drain_requests_served_total Requests begun during a drain on connections already open, over the life of the service.
# TYPE gracekit_drain_requests_served_total counter
gracekit_drain_requests_served_total 7
# HELP gracekit_drains_total Finished drains of HTTP servers, over the life of the service.
# TYPE gracekit_drains_total counter
gracekit_drains_total 3
# HELP gracekit_generation Generation of the serving process, 1 for the first.
# TYPE gracekit_generation gauge
gracekit_generation 4
# HELP gracekit_generations_alive Processes holding the service's sockets: the serving one and those draining or in probation.
# TYPE gracekit_generations_alive gauge
gracekit_generations_alive 2
# HELP gracekit_http_connections Open connections by state.
# TYPE gracekit_http_connections gauge
gracekit_http_connections{address="127.0.0.1:8080",state="active"} 2
gracekit_http_connections{address="127.0.0.1:8080",state="hijacked"} 4
gracekit_http_connections{address="127.0.0.1:8080",state="idle"} 3
gracekit_http_connections{address="127.0.0.1:8080",state="new"} 1
# HELP gracekit_http_draining 1 once the server has begun to drain, else 0.
# TYPE gracekit_http_draining gauge
gracekit_http_draining{address="127.0.0.1:8080"} 0
# HELP gracekit_http_in_flight_requests Requests whose handler is running.
# TYPE gracekit_http_in_flight_requests gauge
gracekit_http_in_flight_requests{address="127.0.0.1:8080"} 2
# HELP gracekit_http_requests_total Requests served by this generation's server; starts from 0 in every generation.
# TYPE gracekit_http_requests_total counter
gracekit_http_requests_total{address="127.0.0.1:8080"} 10
# HELP gracekit_info Always 1: the role and PID of the serving process.
# TYPE gracekit_info gauge
gracekit_info{pid="42",role="worker"} 1
# HELP gracekit_ready 1 while this process serves (it has neither handed over nor begun to stop), else 0.
# TYPE gracekit_ready gauge
gracekit_ready 1
# HELP gracekit_restart_duration_seconds Duration of the last successful restart, from its start to the new generation's ready; 0 before the first.
# TYPE gracekit_restart_duration_seconds gauge
gracekit_restart_duration_seconds 1.5
# HELP gracekit_restarts_total Restarts by outcome, over the life of the service; a refused restart counts as failed.
# TYPE gracekit_restarts_total counter
gracekit_restarts_total{result="failed"} 1
gracekit_restarts_total{result="succeeded"} 3
# HELP gracekit_rollbacks_total Times an old generation served again because the new one died within the probation.
# TYPE gracekit_rollbacks_total counter
gracekit_rollbacks_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if err := gracekitprom.Register(reg, src); err == nil {
		t.Error("registering twice succeeded")
	}
}

// TestCollectorReadsARealProcess: a Process on loopback, a few requests,
// a scrape.
func TestCollectorReadsARealProcess(t *testing.T) {
	addr, stop := startProcess(t, nil)
	defer stop()
	for range 3 {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	reg := lastRegistry
	n, err := testutil.GatherAndCount(reg, "gracekit_http_requests_total", "gracekit_generation", "gracekit_ready", "gracekit_restarts_total")
	if err != nil || n != 5 {
		t.Fatalf("count %d %v, want 5 series", n, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				vals[mf.GetName()] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				vals[mf.GetName()] += m.GetGauge().GetValue()
			}
		}
	}
	if vals["gracekit_http_requests_total"] != 3 || vals["gracekit_generation"] != 1 || vals["gracekit_ready"] != 1 || vals["gracekit_restarts_total"] != 0 {
		t.Errorf("values %v", vals)
	}
}

var lastRegistry *prometheus.Registry

// startProcess runs a graceful.Process with one server on loopback and
// registers the collector on a new registry, kept in lastRegistry.
func startProcess(tb testing.TB, h http.Handler) (addr string, stop func()) {
	tb.Helper()
	return startProcessWith(tb, h, true)
}

func startProcessWith(tb testing.TB, h http.Handler, register bool) (addr string, stop func()) {
	tb.Helper()
	pcfg := graceful.DefaultProcessConfig()
	pcfg.Logger = slog.New(slog.DiscardHandler)
	p, err := graceful.NewProcess(pcfg)
	if err != nil {
		tb.Fatal(err)
	}
	scfg := graceful.DefaultServerConfig()
	scfg.Logger = pcfg.Logger
	if h == nil {
		h = benchHandler
	}
	scfg.Handler = h
	s, err := p.NewServer("127.0.0.1:0", scfg)
	if err != nil {
		tb.Fatal(err)
	}
	if register {
		lastRegistry = prometheus.NewRegistry()
		if err := gracekitprom.Register(lastRegistry, p); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.GetListenedAddress() == "" || !p.Stats().Ready {
		if time.Now().After(deadline) {
			tb.Fatal("the process did not become ready")
		}
		time.Sleep(time.Millisecond)
	}
	return s.GetListenedAddress(), func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(30 * time.Second):
			tb.Error("the process did not stop")
		}
	}
}

var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

// BenchmarkRequest measures a keep-alive GET through a graceful.Server of
// a Process, without the collector and with it registered (and scraped
// once, so that it has run): the collector works at scrape time only, so
// the two should be within noise, with equal allocations.
//
//	go test -run '^$' -bench Request -benchmem -count 6 ./prometheus
func BenchmarkRequest(b *testing.B) {
	for _, tc := range []struct {
		name     string
		register bool
	}{{"baseline", false}, {"collector", true}} {
		b.Run(tc.name, func(b *testing.B) {
			addr, stop := startProcessWith(b, nil, tc.register)
			defer stop()
			if tc.register {
				if _, err := lastRegistry.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}
