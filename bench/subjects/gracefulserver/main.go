// Command gracefulserver serves the shared handler with gracekit's
// graceful.Server and no restart support. Beside the nethttp subject it
// isolates what the library's server costs per request from whatever
// examples/reload does besides.
package main

import (
	"context"
	"flag"
	"log"
	"os/signal"
	"syscall"

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
	flag.Parse()
	stopProfile, err := profile.Start(*cpuProfile)
	if err != nil {
		log.Fatalf("%s subject: %v", "gracefulserver", err)
	}
	defer stopProfile()
	if err := run(*addr, *pidFile, *config); err != nil {
		stopProfile()
		log.Fatalf("gracefulserver subject: %v", err)
	}
}

func run(addr, pidFile, config string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	signal.Ignore(syscall.SIGHUP)
	if err := subjectcfg.Check(config); err != nil {
		return err
	}
	cfg := graceful.DefaultServerConfig()
	cfg.Handler = handler.New(handler.Options{Draining: graceful.Draining})
	srv := graceful.New(addr, 0, cfg)
	if err := srv.CreateListener(); err != nil {
		return err
	}
	if pidFile != "" {
		if err := pidfile.Write(pidFile); err != nil {
			return err
		}
	}
	return srv.Serve(ctx)
}
