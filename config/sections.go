package config

import (
	"github.com/gracekit/gracekit/graceful"
)

// Config is the whole gracekit configuration file: the HTTP server, the
// process that restarts without downtime, and logging. Start from
// [Default], then [Load] files, environment variables and flags over it.
//
// To add settings of your own, embed Config (or some of its sections) in a
// struct of yours:
//
//	type AppConfig struct {
//		config.Config `koanf:",squash"`
//		App           App `koanf:"app"`
//	}
type Config struct {
	// The HTTP server: where it listens and how long it waits for
	// clients.
	Server Server `koanf:"server"`

	// How the process restarts without dropping a request, and how it
	// tells supervisors and load balancers about itself.
	Process Process `koanf:"process"`

	// Where the log lines go and how much is logged.
	Log Log `koanf:"log"`
}

// Server holds the settings of the HTTP server and of its optional HTTPS
// twin. [Server.NewServers] turns it into running servers.
type Server struct {
	// Where the HTTP server listens: "host:port", ":port" (all
	// interfaces), ":0" (any free port) or "unix:/absolute/path.sock".
	Address string `koanf:"address"`

	// Where the HTTPS server listens, in the same forms as address. Empty
	// means no HTTPS server; when set, certFile and keyFile are required.
	HTTPSAddress string `koanf:"httpsAddress"`

	// PEM file holding the TLS certificate chain of the HTTPS server. Set
	// together with keyFile.
	CertFile string `koanf:"certFile"`

	// PEM file holding the private key of the TLS certificate. Set
	// together with certFile.
	KeyFile string `koanf:"keyFile"`

	// Whether the HTTPS server also answers HTTP/3 over QUIC on the UDP
	// port of its address and advertises it to HTTPS clients with
	// Alt-Svc. The config package only carries the setting: a program serves
	// HTTP/3 with the module github.com/gracekit/gracekit/http3 (see
	// examples/http3), whose restarts lose no QUIC connection.
	HTTP3 bool `koanf:"http3"`

	// Longest time to read a whole request, body included. 0 means no
	// limit.
	ReadTimeout Duration `koanf:"readTimeout"`

	// Longest time to read the headers of a request; it stops clients that
	// send them one byte at a time (slow loris). 0 falls back to
	// readTimeout.
	ReadHeaderTimeout Duration `koanf:"readHeaderTimeout"`

	// Longest time from the end of the request headers to the end of the
	// response. 0 means no limit, which streaming and long-polling
	// handlers need.
	WriteTimeout Duration `koanf:"writeTimeout"`

	// Longest time a keep-alive connection waits for its next request. 0
	// falls back to readTimeout.
	IdleTimeout Duration `koanf:"idleTimeout"`

	// Longest time a graceful shutdown may take: past it, the connections
	// still open are closed and the requests on them are cut (the log
	// counts them). 0 means no limit.
	GracefulShutdownTimeout Duration `koanf:"gracefulShutdownTimeout"`

	// Once a shutdown has begun, the longest an idle keep-alive
	// connection may stay open to send one more request, which is
	// answered with "Connection: close". Each connection's own grace
	// comes from the round-trip time the kernel measured on it, at least
	// idleDrainGraceMin after its last answer and at most this; many
	// idle connections are
	// closed spread over a window of up to this, so that their clients
	// do not all reconnect at once. For HTTP/2, the longest wait for a client to
	// answer the PING sent with the first GOAWAY. 0 closes idle
	// connections at once.
	IdleDrainGrace Duration `koanf:"idleDrainGrace"`

	// The shortest idle grace of a connection (see idleDrainGrace),
	// counted from its last answer: room for a keep-alive client whose
	// next request comes a while after its answer (it paces its requests,
	// or a busy machine or a throttled CPU quota delays it). A connection
	// idle for longer than this when the shutdown begins is closed as
	// soon as its round trip allows.
	// Never more than idleDrainGrace; set both to the same value for the
	// same grace on every connection.
	IdleDrainGraceMin Duration `koanf:"idleDrainGraceMin"`

	// Once a shutdown has begun, how long hijacked connections
	// (WebSockets, raw streams) may stay open; they are closed once it
	// has passed and the other connections have drained.
	HijackedGrace Duration `koanf:"hijackedGrace"`

	// Largest request header block accepted; a larger one gets "431
	// Request Header Fields Too Large". A number of bytes or a size such
	// as "10KiB" or "1m" (k and m are powers of 1000, ki and mi of 1024:
	// "1m" is 1000000 bytes, "1MiB" is 1048576). 0 means the net/http
	// default of 1 MiB.
	MaxHeaderBytes Size `koanf:"maxHeaderBytes"`

	// Whether connections are kept open between requests (HTTP
	// keep-alive).
	KeepAlive bool `koanf:"keepAlive"`

	// Permission mode of the socket file of a "unix:" address, as an
	// octal string: "0660" lets the file's group connect (a reverse
	// proxy's unprivileged workers, say). Empty leaves it to the umask.
	// The socket is never reachable with wider permissions, not even
	// while it is being set up.
	UnixSocketMode string `koanf:"unixSocketMode"`

	// Group of the socket file of a "unix:" address: a group name such
	// as "www-data", or a numeric group ID. The process must run as root
	// or be a member of the group. Without unixSocketMode the mode is
	// then "0660". Empty leaves the process's group.
	UnixSocketGroup string `koanf:"unixSocketGroup"`
}

// Process holds the settings of the process that runs the servers: how it
// restarts without downtime and how it reports its health.
type Process struct {
	// How a restart replaces the process: "reexec" starts a new copy of the
	// binary that inherits the sockets (the PID changes; for systemd or a
	// supervisor that follows a PID file), "supervisor" keeps a small
	// parent that owns the sockets and replaces worker processes (the PID
	// stays; for containers and supervisord).
	Mode graceful.RestartMode `koanf:"mode"`

	// Signal that triggers a zero-downtime restart: SIGHUP, SIGUSR1 or
	// SIGUSR2. SIGTERM and SIGINT always mean a graceful shutdown.
	RestartSignal string `koanf:"restartSignal"`

	// Longest time a new generation may take to become ready; past it the
	// new process is stopped and the old one keeps serving.
	UpgradeTimeout Duration `koanf:"upgradeTimeout"`

	// Largest number of generations alive at once: the serving one plus
	// those still draining long requests. A restart signal that would
	// exceed it is postponed until an old generation exits. At least 2.
	MaxGenerations int `koanf:"maxGenerations"`

	// How long, after a restart, the old generation keeps its sockets,
	// not accepting, so that it serves again if the new one dies, or
	// stops answering for 2s, within that time (a rollback: queued
	// connections are served, requests in flight on the dead process are
	// lost). 0s turns rollback off.
	Probation Duration `koanf:"probation"`

	// File that names the serving process: replaced in one step once a new
	// generation has reported ready, removed at the final shutdown. Empty
	// means no PID file.
	PIDFile string `koanf:"pidFile"`

	// How long, once a shutdown is requested, the process keeps serving
	// while its readiness endpoint answers 503, so that load balancers
	// stop sending before the listeners close.
	ShutdownDelay Duration `koanf:"shutdownDelay"`

	// URL path of the readiness endpoint served on every server: 200 while
	// the service serves (during a restart too), 503 once a shutdown is
	// requested. Empty means none; else a plain path other than "/", such
	// as "/ready".
	ReadinessPath string `koanf:"readinessPath"`

	// URL path of the liveness endpoint served on every server: 200 as
	// long as the process runs, draining included. Empty means none; else
	// a plain path other than "/", such as "/live".
	LivenessPath string `koanf:"livenessPath"`

	// URL path where a program serves its Prometheus metrics (see the
	// prometheus package; examples/reload does). The graceful package
	// itself does not serve them. Empty means none; else a plain path
	// other than "/", such as "/metrics".
	MetricsPath string `koanf:"metricsPath"`
}

// Log holds the logging settings. [Log.NewLogger] builds the logger.
type Log struct {
	// Least severe level that is logged: debug, info, warn or error.
	Level string `koanf:"level"`

	// Format of the log lines: text (key=value pairs) or json (one JSON
	// object per line).
	Format string `koanf:"format"`
}

// Default log settings, shared by [Default] and the JSON Schema.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// LogLevels returns the accepted values of the log level, least severe
// first.
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }

// LogFormats returns the accepted values of the log format.
func LogFormats() []string { return []string{"text", "json"} }

// Default returns the configuration used when nothing else is said. Its
// server and process values come from the graceful package's defaults.
func Default() Config {
	return Config{
		Server:  DefaultServer(),
		Process: DefaultProcess(),
		Log:     Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// DefaultServer returns the server section of [Default].
func DefaultServer() Server {
	s := serverFrom(graceful.DefaultServerConfig())
	s.Address = graceful.DefaultAddress
	return s
}

// DefaultProcess returns the process section of [Default].
func DefaultProcess() Process {
	p := processFrom(graceful.DefaultProcessConfig())
	p.RestartSignal = graceful.DefaultRestartSignalName
	return p
}
