// Command gracefulprocess serves the bench's shared handler through
// gracekit's graceful.Process, the way examples/reload does, so that a
// throughput difference between examples/reload and the baselines can be
// told apart: the library's process layer, or the example's handler.
// It restarts on SIGHUP like examples/reload. With -servers N it serves N
// servers, one per port from -addr on, to measure what a restart costs
// per socket.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/bench/internal/profile"
	"github.com/gracekit/gracekit/bench/internal/subjectcfg"
	"github.com/gracekit/gracekit/graceful"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	pidFile := flag.String("pidfile", "", "PID file, written by the serving process when it is ready")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/2 and HTTP/1.1 through ALPN) with this PEM certificate; needs -tls-key")
	tlsKey := flag.String("tls-key", "", "PEM key of -tls-cert")
	servers := flag.Int("servers", 1, "serve this many servers (Process.NewServer each), on -addr and the ports that follow it")
	flag.Parse()
	stopProfile, err := profile.Start(*cpuProfile)
	if err != nil {
		log.Fatalf("gracefulprocess subject: %v", err)
	}
	defer stopProfile()
	if err := run(*addr, *pidFile, *tlsCert, *tlsKey, *servers); err != nil {
		stopProfile()
		log.Fatalf("gracefulprocess subject: %v", err)
	}
}

func run(addr, pidFile, tlsCert, tlsKey string, servers int) error {
	addrs, err := subjectcfg.Addrs(addr, servers)
	if err != nil {
		return err
	}
	pcfg := graceful.DefaultProcessConfig()
	pcfg.PIDFile = pidFile
	// Rollback off, as in the bench's config for examples/reload: no other
	// subject has one, and the bench waits for each old generation to exit.
	pcfg.Probation = 0
	pcfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	p, err := graceful.NewProcess(pcfg)
	if err != nil {
		return err
	}
	scfg := graceful.DefaultServerConfig()
	scfg.Handler = handler.New(handler.Options{Draining: graceful.Draining})
	for _, a := range addrs {
		s, err := p.NewServer(a, scfg)
		if err != nil {
			return err
		}
		if tlsCert != "" {
			if err := s.CreateListenerTLS(tlsCert, tlsKey); err != nil {
				return err
			}
		}
	}
	return p.Run(context.Background())
}
