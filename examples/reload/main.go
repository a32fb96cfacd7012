// Command reload is a server that restarts without dropping a request.
//
// It answers GET / with "pid=<its pid>", and GET /?sleep=250ms after that
// delay (at most 60s). On SIGHUP it starts a new copy of itself that
// inherits the listening socket; once the copy is ready, the old process
// stops accepting, finishes its requests and exits. SIGTERM or SIGINT
// drain and exit 0.
//
//	go run ./examples/reload -addr 127.0.0.1:8080 -pidfile /tmp/reload.pid
//	kill -HUP $(cat /tmp/reload.pid)   # zero-downtime restart
//	kill -TERM $(cat /tmp/reload.pid)  # graceful stop
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

// maxSleep bounds the ?sleep= parameter.
const maxSleep = 60 * time.Second

func main() {
	addr := flag.String("addr", graceful.DefaultAddress, "listen address: host:port, :port or unix:/path")
	pidfile := flag.String("pidfile", "", "write the serving process's PID to this file")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *pidfile, logger); err != nil {
		logger.Error("reload failed", "error", err)
		os.Exit(1)
	}
}

func run(addr, pidfile string, logger *slog.Logger) error {
	pcfg := graceful.DefaultProcessConfig()
	pcfg.PIDFile = pidfile
	pcfg.Logger = logger
	proc, err := graceful.NewProcess(pcfg)
	if err != nil {
		return err
	}
	scfg := graceful.DefaultServerConfig()
	scfg.Handler = handler()
	if _, err := proc.NewServer(addr, scfg); err != nil {
		return err
	}
	return proc.Run(context.Background())
}

// handler answers with the PID of the process that served the request.
func handler() http.Handler {
	pid := os.Getpid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > maxSleep {
				http.Error(w, fmt.Sprintf("sleep must be a duration from 0 to %s", maxSleep), http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "pid=%d read=%d\n", pid, n)
	})
}
