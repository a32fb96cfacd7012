package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/scenario"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/testcert"
)

// laneParams size the HTTP/2 and nginx lanes.
type laneParams struct {
	h2      scenario.H2LaneOptions
	control time.Duration // the HTTP/2 run without restarts
	wrk     extclient.WrkOptions
}

func fullLanes() laneParams {
	return laneParams{
		h2:      scenario.H2LaneOptions{Duration: 20 * time.Second, Window: 2 * time.Second, H2: extclient.H2Options{Clients: 4, Streams: 8}, CurlWorkers: 2, Restart: true},
		control: 5 * time.Second,
		wrk:     extclient.WrkOptions{Threads: 1, Conns: 32, Duration: 20 * time.Second},
	}
}

func quickLanes() laneParams {
	p := fullLanes()
	p.h2.Duration = 3 * time.Second
	p.control = 0
	return p
}

// h2Subjects are the HTTP/2 lane's subjects: gracekit's graceful.Process
// and tableflip, both with the shared handler, serving HTTPS with a
// certificate made for this run.
func (r *runner) h2Specs(cert testcert.Pair) []subject.Spec {
	var out []subject.Spec
	for _, name := range []string{gracefulProc, tableflip} {
		s := r.cat.specs[name]
		s.Restartable = true
		s.Extra = append(append([]string(nil), s.Extra...), "-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile)
		s.TLS = cert.ClientConfig()
		out = append(out, s)
	}
	return out
}

// h2Lane runs the HTTP/2 lane: h2load and curl --http2 over TLS against
// each subject while it restarts, then (unless p.control is 0) the same
// clients without restarts, as a control of what the clients count.
func (r *runner) h2Lane(p laneParams) (desc string, runs []scenario.H2Run, skip string) {
	if err := extclient.Need("h2load", "curl"); err != nil {
		return "", nil, "HTTP/2 lane skipped: " + err.Error()
	}
	dir := filepath.Join(r.work, "tls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, "HTTP/2 lane skipped: " + err.Error()
	}
	cert, err := testcert.New(dir)
	if err != nil {
		return "", nil, "HTTP/2 lane skipped: " + err.Error()
	}
	ro := restartOptions()
	o := p.h2
	desc = fmt.Sprintf("`h2load -c %d -m %d -D %s https://ADDR/` (%d connections, %d concurrent streams each, h2 over TLS via ALPN), run back to back for %s (h2load reconnects after a GOAWAY but not after a plain close, so one long run can be left without connections), and, at the same time, %d loops of `curl --http2 --cacert CERT https://ADDR/`, one process and so one new TLS connection per request; the subject restarts by SIGHUP one restart at a time (signal, the PID file names a new process that answers, the old one exits, %s of steady load) until a second before the clients stop. Neither client retries. The certificate is self-signed, made at the start of the run.",
		o.H2.Clients, o.H2.Streams, o.Window, o.H2.Clients, o.H2.Streams, o.Duration, o.CurlWorkers, ro.Interval)
	if p.control > 0 {
		desc += fmt.Sprintf(" The control rows run the same clients for %s without restarts.", p.control)
	}
	specs := r.h2Specs(cert)
	one := func(s subject.Spec, o scenario.H2LaneOptions) {
		in, err := r.launchSpec(s)
		if err != nil {
			runs = append(runs, scenario.H2Run{Subject: s.Name, Restart: o.Restart, H2Err: err.Error()})
			return
		}
		run := scenario.H2Lane(r.ctx, in, cert.CertFile, o, ro)
		in.Stop(40 * time.Second)
		fmt.Printf("  h2 %s (restarts %v): %d restarts, h2load %d requests %d failed %d errored (%s), curl %d requests %d failed %s %s\n",
			s.Name, o.Restart, run.Restarts.Restarts, run.H2.Total, run.H2.Failed, run.H2.Errored, run.H2.Protocol,
			run.Curl.Requests, run.Curl.Failed, run.Curl.Classes(), run.H2Err)
		runs = append(runs, run)
	}
	for _, s := range specs {
		if r.ctx.Err() == nil {
			one(s, o)
		}
	}
	if p.control > 0 {
		c := o
		c.Duration, c.Restart = p.control, false
		for i := len(specs) - 1; i >= 0 && r.ctx.Err() == nil; i-- {
			one(specs[i], c)
		}
	}
	return desc, runs, ""
}

// nginxSpecs are the nginx lane's subjects: gracekit (examples/reload),
// graceful.Process and tableflip, over plain HTTP behind the proxy.
func (r *runner) nginxSpecs() []subject.Spec {
	var out []subject.Spec
	for _, name := range []string{gracekit, gracefulProc, tableflip} {
		if s, ok := r.cat.specs[name]; ok {
			s.Restartable = true
			out = append(out, s)
		}
	}
	return out
}

// nginxLane runs wrk through nginx in front of each subject while it
// restarts.
func (r *runner) nginxLane(p laneParams) (desc string, runs []scenario.NginxRun, skip string) {
	if err := extclient.Need("nginx", "wrk"); err != nil {
		return "", nil, "nginx lane skipped: " + err.Error()
	}
	ro := restartOptions()
	desc = fmt.Sprintf("nginx (one worker) as a reverse proxy in front of each subject: `upstream { server ADDR; keepalive 32; }`, `proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, `proxy_next_upstream off` (a request that fails on the upstream is not tried again). Load: `wrk -t%d -c%d -d%s` at nginx (keep-alive GET /). The subject restarts by SIGHUP one restart at a time, as in the HTTP/2 lane (%s of steady load between restarts), until a second before wrk stops. Non-2xx is wrk's count of answers outside 2xx/3xx (nginx answers 502 when the upstream connection fails); socket errors are between wrk and nginx. Upstream errors are the lines of nginx's error log that name the upstream.",
		p.wrk.Threads, p.wrk.Conns, p.wrk.Duration, ro.Interval)
	for _, s := range r.nginxSpecs() {
		if r.ctx.Err() != nil {
			break
		}
		in, err := r.launchSpec(s)
		if err != nil {
			runs = append(runs, scenario.NginxRun{Subject: s.Name, Err: err.Error()})
			continue
		}
		run := scenario.NginxLane(r.ctx, in, r.reaper, r.work, p.wrk, ro)
		in.Stop(40 * time.Second)
		fmt.Printf("  nginx %s: %d restarts, %d requests, %d non-2xx, %d socket errors, %d upstream errors %s\n",
			s.Name, run.Restarts.Restarts, run.Wrk.Requests, run.Wrk.Non2xx, run.Wrk.SocketErrors(), run.UpstreamErrors, run.Err)
		runs = append(runs, run)
	}
	return desc, runs, ""
}

// toolVersions lists the outside tools' versions for the machine table.
func toolVersions() [][2]string {
	return [][2]string{
		{"h2load", extclient.Version("h2load", "--version")},
		{"curl", extclient.Version("curl", "--version")},
		{"nginx", extclient.Version("nginx", "-v")},
	}
}
