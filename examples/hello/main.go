// Command hello is the smallest gracekit server: it answers "hello" on
// 127.0.0.1:8080 and, on SIGINT or SIGTERM, drains every request in
// flight before it exits with status 0.
//
//	go run ./examples/hello            # serves on 127.0.0.1:8080
//	go run ./examples/hello -addr :0   # any free port; the log says which
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gracekit/gracekit/graceful"
)

func main() {
	addr := flag.String("addr", graceful.DefaultAddress, "listen address: host:port, :port or unix:/path")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, logger); err != nil {
		logger.Error("hello failed", "error", err)
		os.Exit(1)
	}
}

func run(addr string, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from gracekit")
	})

	cfg := graceful.DefaultServerConfig()
	cfg.Handler = mux
	cfg.Logger = logger
	srv := graceful.New(addr, 0, cfg)
	if err := srv.CreateListener(); err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", srv.GetListenedAddress())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Serve(ctx)
}
