// Command reload is a server that restarts without dropping a request.
//
// It answers GET / (and POST /, reading the body) with "pid=<its pid>",
// GET /?sleep=250ms after that delay (at most 60s), and GET /stream with an
// Upgrade header by taking the connection over and writing a line every
// 50ms until the server drains (see graceful.Draining). On SIGHUP (the
// configured restart signal) it starts a new copy of itself, which reads
// the configuration file again and inherits the listening sockets; once
// the copy is ready, the old process stops accepting, finishes its
// requests and exits. If the copy fails (an invalid configuration, say),
// the old process keeps serving. SIGTERM or SIGINT drain and exit 0.
//
//	go run ./examples/reload -addr 127.0.0.1:8080 -pidfile /tmp/reload.pid
//	go run ./examples/reload -config examples/reload/reload.yaml
//	go run ./examples/reload -config examples/reload/reload.yaml -t   # check the configuration and exit
//	kill -HUP $(cat /tmp/reload.pid)    # zero-downtime restart
//	kill -TERM $(cat /tmp/reload.pid)   # graceful stop
//
// Flags:
//
//	-addr ADDR      listen address (host:port, :port or unix:/path); overrides server.address
//	-pidfile FILE   PID file, written by the serving process; overrides process.pidFile
//	-config FILE    configuration file (.yaml, .json or .toml), read again on every restart
//	-t              check the configuration, print the effective settings, exit 0 or 1
//
// With process.metricsPath set (such as /metrics), every server also serves
// the gracekit_ Prometheus metrics there (see the prometheus package and
// docs/metrics.md).
//
// GRACEKIT_* environment variables override the file (see docs/config.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
	gracekitprom "github.com/gracekit/gracekit/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen `address`: host:port, :port or unix:/path (overrides server.address; default "+graceful.DefaultAddress+")")
	pidfile := fs.String("pidfile", "", "write the serving process's PID to `file` (overrides process.pidFile)")
	configFile := fs.String("config", "", "configuration `file` (.yaml, .json or .toml), read again on every restart")
	check := fs.Bool("t", false, "check the configuration, print the effective settings, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reload: unexpected arguments %q\n", fs.Args())
		return 2
	}

	opts, err := options(*configFile, *addr, *pidfile)
	if err != nil {
		fmt.Fprintln(stderr, "reload:", err)
		return 2
	}
	cfg := config.Default()
	if *check {
		if err := config.Check(stdout, &cfg, opts...); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	if err := config.Load(&cfg, opts...); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// The Process adds its pid, role and generation to the lines it and
	// its servers log; this program's own lines name its pid too, since
	// every generation of a restart writes to one stream.
	base := cfg.Log.NewLogger(stderr)
	logger := base.With("pid", os.Getpid())
	pcfg, err := cfg.Process.ProcessConfig()
	if err != nil {
		logger.Error("invalid process configuration", "error", err)
		return 1
	}
	pcfg.Logger = base
	proc, err := graceful.NewProcess(pcfg)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	h := handler()
	if path := cfg.Process.MetricsPath; path != "" {
		reg := prometheus.NewRegistry()
		if err := gracekitprom.Register(reg, proc); err != nil {
			logger.Error("cannot register the metrics", "error", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle(path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.Handle("/", h)
		h = mux
	}
	if _, err := cfg.Server.NewServers(proc, h, base); err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	if err := proc.Run(context.Background()); err != nil {
		logger.Error("stopped with an error", "error", err)
		return 1
	}
	return 0
}

// options turns the command line into configuration sources: the file,
// then -addr and -pidfile as flags over it (short for -server.address and
// -process.pidFile).
func options(file, addr, pidfile string) ([]config.Option, error) {
	var opts []config.Option
	if file != "" {
		opts = append(opts, config.WithFiles(file))
	}
	over := flag.NewFlagSet("overrides", flag.ContinueOnError)
	over.SetOutput(io.Discard)
	over.String("server.address", "", "")
	over.String("process.pidFile", "", "")
	var set []string
	if addr != "" {
		set = append(set, "-server.address="+addr)
	}
	if pidfile != "" {
		set = append(set, "-process.pidFile="+pidfile)
	}
	if err := over.Parse(set); err != nil {
		return nil, err
	}
	return append(opts, config.WithGoFlags(over)), nil
}
