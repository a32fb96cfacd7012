// Command config is a gracekit server configured from a YAML file, the
// environment and flags, with a section of its own next to gracekit's.
//
//	go run ./examples/config -config examples/config/app.yaml
//	GRACEKIT_APP_GREETING='hi from the environment' go run ./examples/config -config examples/config/app.yaml
//	GRACEKIT_APP_API_TOKEN_FILE=/run/secrets/token go run ./examples/config -config examples/config/app.yaml
//	go run ./examples/config -config examples/config/app.yaml -server.address :9090
//	go run ./examples/config -config examples/config/app.yaml -t   # check the configuration, print it, exit
//	go run ./examples/config -help                                   # a flag for every key but the secret
//
// It answers GET / with the greeting, GET /upstream with the upstream
// service's URL and whether a token is set, and POST /upload with the
// size of the body, refusing bodies above app.maxUploadSize. SIGINT or
// SIGTERM drains the requests in flight and exits 0. It exits 1 when the
// configuration is invalid, and 2 on a command-line mistake, a missing
// -config file included.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

// appSchema is the generated schema of AppConfig, whose descriptions (the
// doc comments of the fields) are the help of the flags.
//
//go:embed app.schema.json
var appSchema []byte

// files collects the -config flags: several files may be given, a later
// one overriding an earlier one.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFiles files
	fs.Var(&configFiles, "config", "configuration `file` (.yaml, .json or .toml); may be repeated")
	test := fs.Bool("t", false, "check the configuration, print it with the source of each value, and exit")
	cfg := DefaultAppConfig()
	usage, err := schema.Descriptions(appSchema)
	if err == nil {
		// One flag per key, such as -server.address or -app.greeting.
		err = config.AddGoFlags(fs, cfg, usage)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		// A stray word (a value without its flag, a flag after it) would
		// otherwise be dropped, and a -t after it with it.
		fmt.Fprintf(stderr, "config: unexpected arguments %q: every setting is a flag, such as -server.address=:8080\n", fs.Args())
		return 2
	}

	opts := []config.Option{config.WithFiles(configFiles...), config.WithGoFlags(fs)}
	if *test {
		if err := config.Check(stdout, &cfg, opts...); err != nil {
			fmt.Fprintln(stderr, err)
			return exitCode(err)
		}
		return 0
	}
	if err := config.Load(&cfg, opts...); err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(err)
	}
	logger := cfg.Log.NewLogger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("serve failed", "error", err)
		return 1
	}
	return 0
}

// exitCode is 2 for a configuration file that does not exist, a mistake
// on the command line, as gen validate says too, and 1 for an invalid
// configuration.
func exitCode(err error) int {
	if errors.Is(err, fs.ErrNotExist) {
		return 2
	}
	return 1
}

// serve runs the servers of cfg until ctx ends, then drains them.
func serve(ctx context.Context, cfg AppConfig, logger *slog.Logger, stdout io.Writer) error {
	servers, err := cfg.Server.NewServers(nil, handler(cfg.App), logger)
	if err != nil {
		return err
	}
	for _, s := range servers {
		scheme := "http"
		if s.IsHttps() {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, s.GetListenedAddress())
	}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.Serve(ctx) }()
	}
	var all []error
	for range servers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// handler answers GET / with the greeting and POST /upload with the size
// of the body, up to app.maxUploadSize.
func handler(app App) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, app.Greeting)
	})
	mux.HandleFunc("GET /upstream", func(w http.ResponseWriter, r *http.Request) {
		// Never the token itself: it is a secret.
		fmt.Fprintf(w, "upstream %q, token set: %v\n", app.Upstream.URL, app.APIToken != "")
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, int64(app.MaxUploadSize)))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("the body is larger than %s", app.MaxUploadSize), http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "received %d bytes\n", n)
	})
	return mux
}
