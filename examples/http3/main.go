// Command http3 serves HTTPS on TCP and HTTP/3 on UDP at one address, and
// restarts without losing a request or a QUIC connection.
//
// It keeps examples/reload's command line: -addr, -config, -pidfile, -t;
// SIGHUP restarts, SIGTERM or SIGINT stop after a drain. Every answer
// starts with "pid=<pid>". GET /?bytes=N streams N bytes in all, slowly
// (-rate bytes a second), so that a download spans a restart: the first
// line is "pid=<pid> bytes=N", the rest the letters a to z over and over.
// GET /metrics serves the gracekit_ Prometheus metrics and the HTTP/3
// counters of this generation (connections drained and lost, packets
// routed to an older generation, resumed TLS sessions).
//
//	go run . -addr 127.0.0.1:8443 -pidfile /tmp/h3.pid
//	curl -sk https://127.0.0.1:8443/                 # HTTP/2 over TCP, with Alt-Svc
//	curl -sk --http3-only https://127.0.0.1:8443/    # HTTP/3 over QUIC
//	kill -HUP $(cat /tmp/h3.pid)                     # zero-downtime restart
//
// Flags:
//
//	-addr ADDR      host:port for HTTPS (TCP) and HTTP/3 (UDP); overrides server.address
//	-cert FILE      PEM certificate; with -key. Without them, a self-signed
//	                certificate for localhost and 127.0.0.1 is made at start
//	-key FILE       PEM key of -cert
//	-pidfile FILE   PID file; overrides process.pidFile
//	-config FILE    configuration file, read again on every restart
//	-rate N         bytes a second of a ?bytes= download (default 1000000)
//	-t              check the configuration and exit
//
// server.http3 (default true here) turns HTTP/3 off when false.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
	"github.com/gracekit/gracekit/http3"
	gracekitprom "github.com/gracekit/gracekit/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("http3", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "`host:port` of HTTPS (TCP) and HTTP/3 (UDP) (overrides server.address)")
	certFile := fs.String("cert", "", "PEM certificate `file` (with -key); self-signed when absent")
	keyFile := fs.String("key", "", "PEM key `file` of -cert")
	pidfile := fs.String("pidfile", "", "write the serving process's PID to `file` (overrides process.pidFile)")
	configFile := fs.String("config", "", "configuration `file` (.yaml, .json or .toml), read again on every restart")
	rate := fs.Int("rate", 1_000_000, "`bytes` a second of a ?bytes= download")
	check := fs.Bool("t", false, "check the configuration, print the effective settings, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "http3: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "http3: -cert and -key go together")
		return 2
	}
	if *rate <= 0 {
		fmt.Fprintln(stderr, "http3: -rate must be positive")
		return 2
	}
	opts, err := options(*configFile, *addr, *pidfile)
	if err != nil {
		fmt.Fprintln(stderr, "http3:", err)
		return 2
	}
	cfg := config.Default()
	cfg.Server.HTTP3 = true
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
	// From here on this code runs in the serving process only.
	if err := serve(proc, cfg, *certFile, *keyFile, *rate, base); err != nil {
		logger.Error("stopped with an error", "error", err)
		return 1
	}
	return 0
}

func serve(proc *graceful.Process, cfg config.Config, certFile, keyFile string, rate int, logger *slog.Logger) error {
	tlsConf, err := tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	scfg := cfg.Server.ServerConfig()
	scfg.Logger = logger
	// The handler is set below, once the Alt-Svc value is known; Run
	// serves nothing before.
	var tcpHandler http.Handler
	scfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tcpHandler.ServeHTTP(w, r) })
	srv, err := proc.NewServer(cfg.Server.Address, scfg)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	if err := srv.CreateListenerTLS("", "", tlsConf); err != nil {
		return fmt.Errorf("cannot serve TLS: %w", err)
	}
	reg := prometheus.NewRegistry()
	if err := gracekitprom.Register(reg, proc); err != nil {
		return fmt.Errorf("cannot register the metrics: %w", err)
	}
	app := withMetrics(reg, handler(rate))
	tcpHandler = app
	if cfg.Server.HTTP3 {
		// The UDP socket takes the port the TCP socket got (":0" too).
		udpAddr := srv.GetListenedAddress()
		h3, err := http3.New(proc, udpAddr, http3.Config{
			Handler:                 app,
			TLSConfig:               tlsConf,
			GracefulShutdownTimeout: scfg.GracefulShutdownTimeout,
			IdleDrainGrace:          scfg.IdleDrainGrace,
			IdleTimeout:             scfg.IdleTimeout,
			MaxHeaderBytes:          scfg.MaxHeaderBytes,
			Logger:                  logger,
		})
		if err != nil {
			return err
		}
		if err := reg.Register(statsCollector{h3}); err != nil {
			return err
		}
		if err := proc.Add(h3); err != nil {
			return err
		}
		tcpHandler = h3.AltSvcHandler(app)
	}
	return proc.Run(context.Background())
}

func withMetrics(reg *prometheus.Registry, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", next)
	return mux
}

// handler answers "pid=<pid> proto=<protocol> resumed=<whether the TLS
// session was resumed>", or streams ?bytes=N.
func handler(rate int) http.Handler {
	pid := os.Getpid()
	const maxBytes = 1 << 30
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		n := -1
		if s := r.URL.Query().Get("bytes"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > maxBytes {
				http.Error(w, fmt.Sprintf("pid=%d bytes must be a number from 0 to %d", pid, maxBytes), http.StatusBadRequest)
				return
			}
			n = v
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n < 0 {
			fmt.Fprintf(w, "pid=%d proto=%s resumed=%t\n", pid, r.Proto, r.TLS != nil && r.TLS.DidResume)
			return
		}
		stream(w, r, pid, n, rate)
	})
}

// stream writes n bytes: "pid=<pid> bytes=<n>\n", then a-z over and over,
// in chunks of a tenth of rate, every 100ms.
func stream(w http.ResponseWriter, r *http.Request, pid, n, rate int) {
	head := fmt.Sprintf("pid=%d bytes=%d\n", pid, n)
	w.Header().Set("Content-Length", strconv.Itoa(n))
	body := make([]byte, n)
	i := copy(body, head)
	for j := i; j < n; j++ {
		body[j] = 'a' + byte((j-i)%26)
	}
	chunk := max(rate/10, 1)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	rc := http.NewResponseController(w)
	for len(body) > 0 {
		k := min(chunk, len(body))
		if _, err := w.Write(body[:k]); err != nil {
			return
		}
		_ = rc.Flush()
		body = body[k:]
		if len(body) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		}
	}
}

// tlsConfig loads the certificate, or makes a self-signed one.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile != "" {
		cert, err := graceful.LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}

// options turns the command line into configuration sources, as
// examples/reload does.
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
