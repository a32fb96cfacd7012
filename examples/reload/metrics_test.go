//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/exampletest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics on a fresh connection and parses it with the
// Prometheus text parser, which proves the format valid.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	return families
}

// value returns the value of the series of name whose labels include
// want (name=value pairs).
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue series
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series of %s with labels %v", name, want)
	return 0
}

// TestMetricsGoOnAcrossRestarts scrapes /metrics before and after three
// restarts in both process modes: the restart and drain counters go up by
// exactly three and never back, the generation follows, and the output
// parses with the Prometheus text parser.
func TestMetricsGoOnAcrossRestarts(t *testing.T) {
	bin := exampletest.Build(t, "reload")
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			addr := exampletest.FreeAddr(t, "tcp")
			pidFile := filepath.Join(dir, "reload.pid")
			conf := filepath.Join(dir, "reload.yaml")
			yaml := fmt.Sprintf("process:\n  mode: %s\n  metricsPath: /metrics\n  probation: 0s\n", mode)
			if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			g := start(t, bin, "-addr", addr, "-pidfile", pidFile, "-config", conf)
			logs := g.Logs

			var serving, worker int
			if mode == "supervisor" {
				worker = exampletest.WaitPID(t, addr, 0, logs)
				exampletest.PIDFile(t, pidFile) // the supervisor writes it once its worker is ready
			} else {
				serving = waitServing(t, addr, pidFile, 0, logs)
			}
			before := scrape(t, addr)
			if got := value(t, before, "gracekit_restarts_total", "result", "succeeded"); got != 0 {
				t.Errorf("restarts before any: %v", got)
			}
			if got := value(t, before, "gracekit_restart_duration_seconds"); got != 0 {
				t.Errorf("restart duration before any restart: %v", got)
			}
			last := map[string]float64{}
			check := func(families map[string]*dto.MetricFamily) {
				for _, name := range []string{"gracekit_restarts_total", "gracekit_drains_total", "gracekit_rollbacks_total"} {
					v := value(t, families, name)
					if v < last[name] {
						t.Errorf("%s went back from %v to %v", name, last[name], v)
					}
					last[name] = v
				}
			}
			check(before)
			const n = 3
			for i := 1; i <= n; i++ {
				old := serving
				if mode == "supervisor" {
					old = worker
				}
				exampletest.Signal(t, exampletest.PIDFile(t, pidFile), syscall.SIGHUP)
				if mode == "supervisor" {
					worker = exampletest.WaitPID(t, addr, old, logs)
				} else {
					serving = waitServing(t, addr, pidFile, old, logs)
				}
				g.WaitGone(old, 30*time.Second)
				// The old generation's drain reaches the serving one once it
				// has exited.
				deadline := time.Now().Add(10 * time.Second)
				for {
					f := scrape(t, addr)
					check(f)
					if value(t, f, "gracekit_drains_total") == float64(i) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("restart %d: gracekit_drains_total is %v\n%s", i, value(t, f, "gracekit_drains_total"), logs())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			after := scrape(t, addr)
			check(after)
			if got := value(t, after, "gracekit_restarts_total", "result", "succeeded"); got != n {
				t.Errorf("gracekit_restarts_total{result=\"succeeded\"} = %v after %d restarts", got, n)
			}
			if got := value(t, after, "gracekit_restarts_total", "result", "failed"); got != 0 {
				t.Errorf("gracekit_restarts_total{result=\"failed\"} = %v", got)
			}
			if got := value(t, after, "gracekit_generation"); got != n+1 {
				t.Errorf("gracekit_generation = %v after %d restarts, want %d", got, n, n+1)
			}
			if got := value(t, after, "gracekit_restart_duration_seconds"); got <= 0 {
				t.Errorf("gracekit_restart_duration_seconds = %v after restarts", got)
			}
			t.Logf("%s: before: restarts{succeeded}=%v drains=%v generation=%v; after %d restarts: restarts{succeeded}=%v drains=%v generation=%v restart_duration_seconds=%v",
				mode, value(t, before, "gracekit_restarts_total", "result", "succeeded"), value(t, before, "gracekit_drains_total"), value(t, before, "gracekit_generation"),
				n, value(t, after, "gracekit_restarts_total", "result", "succeeded"), value(t, after, "gracekit_drains_total"), value(t, after, "gracekit_generation"),
				value(t, after, "gracekit_restart_duration_seconds"))
			exampletest.Signal(t, exampletest.PIDFile(t, pidFile), syscall.SIGTERM)
			if mode == "supervisor" {
				if st := g.WaitFirst(60 * time.Second); st != "exit status 0" {
					t.Errorf("supervisor exit: %s", st)
				}
			}
		})
	}
}
