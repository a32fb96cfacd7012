package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gracekit/gracekit/bench/internal/build"
	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/report"
	"github.com/gracekit/gracekit/bench/internal/scenario"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/testcert"
)

// gracekitH3Pkg is the HTTP/3 lane's gracekit subject: a module of its
// own (quic-go stays out of the root module), built in its directory.
const gracekitH3Pkg = "examples/http3"

// Subject names of the HTTP/3 lane.
const (
	gracekitH3 = "gracekit"
	h3Naive    = "quic-go http3 + tableflip"
	caddyName  = "Caddy"
)

func h3Params(smoke bool) scenario.H3LaneOptions {
	o := scenario.H3LaneOptions{
		Restarts: 20, Interval: 500 * time.Millisecond, Warmup: time.Second, Tail: 2 * time.Second,
		CurlWorkers: 2, GtlsWorkers: 1, Timeout: 10 * time.Second,
	}
	if smoke {
		o.Restarts = 3
	}
	return o
}

// h3Lane runs the HTTP/3 lane: curl --http3-only, gtlsclient and a
// quic-go client holding its connection, against gracekit's examples/http3,
// quic-go's http3 server handed over by tableflip without routing, and
// Caddy reloading its configuration, each restarted Restarts times.
func (r *runner) h3Lane(res *report.Results, benchDir, rootDir string) {
	skip := func(why string) {
		why = "HTTP/3 lane skipped: " + why
		fmt.Println("SKIP", why)
		res.NotMeasured = append(res.NotMeasured, why)
	}
	o := h3Params(r.opts.smoke)
	root, err := extclient.TrixieRoot()
	if err != nil {
		skip(err.Error())
		return
	}
	o.Root = root
	if err := extclient.Need("gtlsclient", "caddy"); err != nil {
		skip(err.Error())
		return
	}
	bins, err := build.All(filepath.Join(r.work, "bin"), []build.Target{
		{Name: "gracekit-h3", Dir: filepath.Join(rootDir, gracekitH3Pkg), Pkg: "."},
		{Name: "h3naive", Dir: benchDir, Pkg: "./subjects/h3naive"},
	})
	if err != nil {
		skip(err.Error())
		return
	}
	dir := filepath.Join(r.work, "h3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		skip(err.Error())
		return
	}
	cert, err := testcert.New(dir)
	if err != nil {
		skip(err.Error())
		return
	}
	ro := restartOptions()
	ro.Max, ro.Interval, ro.Warmup = o.Restarts, o.Interval, 0
	specs := []subject.Spec{
		{Name: gracekitH3, Bin: bins["gracekit-h3"], Restartable: true, ConfigFlag: true, ValidConfig: gracekitConfig,
			Extra: []string{"-cert", cert.CertFile, "-key", cert.KeyFile}, TLS: cert.ClientConfig()},
		{Name: h3Naive, Bin: bins["h3naive"], Restartable: true, ConfigFlag: true, ValidConfig: validConfig,
			Extra: []string{"-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile}, TLS: cert.ClientConfig()},
	}
	res.H3Desc = fmt.Sprintf("Clients nobody here wrote, none of which retries: %d loops of `curl --http3-only` (Debian trixie's curl %s with OpenSSL's QUIC, run by chroot in the root file system internal/nspawn builds) and %d of ngtcp2's `gtlsclient` (Debian's ngtcp2-client), a new QUIC connection per request; and one quic-go v0.65.0 client that holds its connection and sends one request after another (after a GOAWAY it opens a new connection for the next). GET / over HTTP/3 at 127.0.0.1, with a certificate made for the run. Each subject is restarted %d times, one restart at a time, with %s of steady load after each and the clients running from %s before the first restart to %s after the last.",
		o.CurlWorkers, curlH3Version(root), o.GtlsWorkers, o.Restarts, o.Interval, o.Warmup, o.Tail)
	res.H3Subjects = []string{
		"**" + gracekitH3 + "**: `examples/http3` (the example of the `http3` module), built from this commit; SIGHUP re-executes it (rollback off, `process.probation: 0s`, as in the other lanes). A restart: the PID file names a new process that answers, the old one exits.",
		"**" + h3Naive + "**: quic-go v0.65.0's `http3.Server` on a `quic.Transport` whose UDP socket github.com/cloudflare/tableflip v1.2.3 passes to the next process with the TCP listener (`subjects/h3naive`); the old process then calls `http3.Server.Shutdown` (GOAWAY, wait for the connections, at most 10 s) and `http.Server.Shutdown`, and exits. Both read the one socket meanwhile, and nothing routes a packet to the process that owns its connection. Restarted like gracekit.",
		"**" + caddyName + "**: Debian's caddy " + extclient.Version("caddy", "version") + ", `caddy run` with a Caddyfile that serves HTTPS and HTTP/3 on 127.0.0.1 with the run's certificate and answers 200; a restart is `caddy reload --force` with the same file, then the interval. Caddy loads the configuration again inside the running process: a reload is not a new process and cannot bring a new binary, as the restarts of the two others do.",
	}
	for _, s := range specs {
		if r.ctx.Err() != nil {
			return
		}
		in, err := r.launchSpec(s)
		if err != nil {
			res.H3 = append(res.H3, scenario.H3Run{Subject: s.Name, Err: err.Error()})
			continue
		}
		run := scenario.H3Lane(r.ctx, s.Name, in.Addr, cert.ClientConfig(), filepath.Join(dir, "gtls"),
			func(ctx context.Context) scenario.RestartCount { return scenario.RestartLoop(ctx, in, ro) }, o)
		in.Stop(40 * time.Second)
		r.printH3(run)
		res.H3 = append(res.H3, run)
	}
	if r.ctx.Err() != nil {
		return
	}
	addr, err := subject.FreePort()
	if err != nil {
		res.H3 = append(res.H3, scenario.H3Run{Subject: caddyName, Err: err.Error()})
		return
	}
	c, err := extclient.StartCaddy(r.reaper, r.work, addr, cert.CertFile, cert.KeyFile, cert.ClientConfig())
	if err != nil {
		res.H3 = append(res.H3, scenario.H3Run{Subject: caddyName, Err: err.Error()})
		return
	}
	run := scenario.H3Lane(r.ctx, caddyName, addr, cert.ClientConfig(), filepath.Join(dir, "gtls"),
		func(ctx context.Context) scenario.RestartCount {
			return scenario.ReloadLoop(ctx, o.Restarts, o.Interval, c.Reload)
		}, o)
	_ = c.Close()
	r.printH3(run)
	res.H3 = append(res.H3, run)
}

func (r *runner) printH3(run scenario.H3Run) {
	fmt.Printf("  h3 %s: %d restarts, curl %d requests %d failed (%s), gtlsclient %d/%d (%s), held %d/%d (%s)\n",
		run.Subject, run.Restarts.Restarts, run.Curl.Requests, run.Curl.Failed, run.Curl.Classes(),
		run.Gtls.Requests, run.Gtls.Failed, run.Gtls.Classes(), run.Held.Requests, run.Held.Failed, run.Held.Classes())
}

// curlH3Version is the version of the root file system's curl.
func curlH3Version(root string) string {
	v := extclient.Version("chroot", root, "curl", "--version")
	if f := strings.Fields(v); len(f) > 1 {
		return f[1]
	}
	return v
}
