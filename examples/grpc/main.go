// Command grpc serves a gRPC service and an HTTP server from one
// graceful.Process, and restarts both without failing an RPC: the gRPC
// socket comes from Process.Listen and is handed to the new process, the
// server drains with GracefulStop (in-flight RPCs and streams finish on
// the old process), and the standard health service answers NOT_SERVING
// from the moment a shutdown is requested.
//
// The service is grpc.testing.TestService (from google.golang.org/grpc's
// interop package, so no code generation is needed here): UnaryCall
// answers with a payload "pid=<pid>", StreamingOutputCall streams one
// message per response parameter, each "pid=<pid> <i>", EmptyCall
// answers at once. GET / on the HTTP address answers "pid=<pid>".
//
//	go run ./examples/grpc -addr 127.0.0.1:8080 -grpc-addr 127.0.0.1:9090 -pidfile /tmp/grpc.pid
//	kill -HUP $(cat /tmp/grpc.pid)    # zero-downtime restart
//	kill -TERM $(cat /tmp/grpc.pid)   # health turns NOT_SERVING, then the drain
//
// Flags: -addr, -grpc-addr, -pidfile, and -config FILE for gracekit's
// settings (process.mode, process.shutdownDelay, ...), read again on
// every restart.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
	"github.com/gracekit/gracekit/grpcservice"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("grpc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP `address`")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:9090", "gRPC `address`")
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
	pid := os.Getpid()
	svc, err := grpcservice.New(proc, "tcp", *grpcAddr, func() *grpc.Server {
		s := grpc.NewServer()
		testpb.RegisterTestServiceServer(s, &testService{pid: pid})
		return s
	})
	if err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	if err := proc.Add(svc); err != nil {
		logger.Error("cannot add the gRPC service", "error", err)
		return 1
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

// testService answers with the PID of the process that serves.
type testService struct {
	testpb.UnimplementedTestServiceServer
	pid int
}

func (s *testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (s *testService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: fmt.Appendf(nil, "pid=%d", s.pid)}}, nil
}

func (s *testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, st testpb.TestService_StreamingOutputCallServer) error {
	for i, p := range req.GetResponseParameters() {
		if d := time.Duration(p.GetIntervalUs()) * time.Microsecond; d > 0 {
			select {
			case <-time.After(min(d, time.Minute)):
			case <-st.Context().Done():
				return st.Context().Err()
			}
		}
		msg := &testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: fmt.Appendf(nil, "pid=%d %d", s.pid, i)}}
		if err := st.Send(msg); err != nil {
			return err
		}
	}
	return nil
}
