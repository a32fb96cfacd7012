// Command nethttp is the bench's baseline subject: a plain net/http server
// with the shared handler, no restart support, and the usual
// Shutdown-on-SIGTERM. It measures what the handler costs without any
// restart library around it; with -graceful-timeouts it also uses the
// timeouts graceful.Server has by default, so that a comparison isolates
// the library's own mechanics.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/bench/internal/pidfile"
	"github.com/gracekit/gracekit/bench/internal/profile"
	"github.com/gracekit/gracekit/bench/internal/subjectcfg"
	"github.com/gracekit/gracekit/graceful"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	pidFile := flag.String("pidfile", "", "PID file, written once the server listens")
	config := flag.String("config", "", "YAML config file; an invalid one stops the process during its start")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	sameTimeouts := flag.Bool("graceful-timeouts", false, "use graceful.DefaultServerConfig's timeouts and header limit instead of ReadHeaderTimeout alone")
	flag.Parse()
	stopProfile, err := profile.Start(*cpuProfile)
	if err != nil {
		log.Fatalf("%s subject: %v", "nethttp", err)
	}
	defer stopProfile()
	if err := run(*addr, *pidFile, *config, *sameTimeouts); err != nil {
		stopProfile()
		log.Fatalf("nethttp subject: %v", err)
	}
}

func run(addr, pidFile, config string, sameTimeouts bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	signal.Ignore(syscall.SIGHUP) // no restarts: a stray SIGHUP must not kill the baseline
	if err := subjectcfg.Check(config); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler.New(handler.Options{}), ReadHeaderTimeout: 10 * time.Second}
	if sameTimeouts {
		d := graceful.DefaultServerConfig()
		srv.ReadTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout = d.ReadTimeout, d.ReadHeaderTimeout, d.WriteTimeout
		srv.IdleTimeout, srv.MaxHeaderBytes = d.IdleTimeout, d.MaxHeaderBytes
	}
	if pidFile != "" {
		if err := pidfile.Write(pidFile); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
