// Command echo serves a raw TCP echo and a UDP echo beside an HTTP
// server, and restarts all three without downtime: the sockets are
// handed to the new process (graceful.Process.Listen and ListenPacket),
// and the services drain in step with the HTTP server (Process.Add).
//
// A TCP client sends lines and gets each back as "pid=<pid> <line>"; a
// UDP client sends datagrams and gets each back the same way; GET / on the
// HTTP address answers "pid=<pid>". SIGHUP restarts, SIGTERM stops.
//
//	go run ./examples/echo -addr 127.0.0.1:8080 -tcp 127.0.0.1:7000 -udp 127.0.0.1:7001 -pidfile /tmp/echo.pid
//	echo hello | nc -q1 127.0.0.1 7000      # pid=1234 hello
//	echo hello | nc -u -q1 127.0.0.1 7001   # pid=1234 hello
//	kill -HUP $(cat /tmp/echo.pid)          # zero-downtime restart
//
// Flags: -addr, -tcp, -udp, -pidfile as above; -config FILE for gracekit's
// settings (process.mode, process.probation, ...), read again on every
// restart.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP `address`")
	tcpAddr := fs.String("tcp", "127.0.0.1:7000", "TCP echo `address`")
	udpAddr := fs.String("udp", "127.0.0.1:7001", "UDP echo `address`")
	pidfile := fs.String("pidfile", "", "write the serving process's PID to `file`")
	configFile := fs.String("config", "", "configuration `file` (.yaml, .json or .toml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	var opts []config.Option
	if *configFile != "" {
		opts = append(opts, config.WithFiles(*configFile))
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
	if *pidfile != "" {
		pcfg.PIDFile = *pidfile
	}
	proc, err := graceful.NewProcess(pcfg)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	// From here on, this code runs in the serving process only (in
	// supervisor mode NewProcess does not return in the supervisor).
	pid := os.Getpid()
	tcp, err := newTCPEcho(proc, "tcp", *tcpAddr, pid, 5*time.Second)
	if err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	udp, err := newUDPEcho(proc, "udp", *udpAddr, pid)
	if err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	for _, svc := range []graceful.Service{tcp, udp} {
		if err := proc.Add(svc); err != nil {
			logger.Error("cannot add a service", "error", err)
			return 1
		}
	}
	scfg := cfg.Server.ServerConfig()
	scfg.Logger = base
	scfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d\n", pid)
	})
	if _, err := proc.NewServer(*addr, scfg); err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	if err := proc.Run(context.Background()); err != nil {
		logger.Error("stopped with an error", "error", err)
		return 1
	}
	return 0
}
