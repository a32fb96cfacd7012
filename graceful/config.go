package graceful

import (
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Addresses a Server can be given.
const (
	// DefaultAddress is where a server listens when its configuration names
	// no address: the loopback interface, so that nothing is exposed to the
	// network by accident.
	DefaultAddress = "127.0.0.1:8080"

	// FreePortAddress asks the operating system for any free TCP port on
	// all interfaces. [Server.GetListenedAddress] and
	// [Server.GetListenedPort] report the port that was picked.
	FreePortAddress = ":0"

	// UnixAddressPrefix starts an address that names a Unix domain socket,
	// as in "unix:/run/app.sock".
	UnixAddressPrefix = "unix:"
)

// ServerConfig holds the settings of one [Server]. Start from
// [DefaultServerConfig] and change what you need: the zero value of a field
// means "no limit" for timeouts, which is rarely what a server on the
// Internet wants.
type ServerConfig struct {
	// Listeners, when not empty, are served instead of binding the
	// server's address or adopting its inherited file descriptor. The
	// Server takes ownership: it closes them when it shuts down.
	Listeners []net.Listener

	// Handler answers every request. It is an [http.Handler] rather than
	// a bare function so that any router or middleware chain plugs in
	// directly; wrap a function with [http.HandlerFunc]. Nil means
	// [http.DefaultServeMux].
	Handler http.Handler

	// ReadTimeout bounds the time to read a whole request, body included.
	ReadTimeout time.Duration

	// ReadHeaderTimeout bounds the time to read a request's headers. It
	// protects against clients that open connections and send headers one
	// byte at a time (slow loris). Zero falls back to ReadTimeout.
	ReadHeaderTimeout time.Duration

	// WriteTimeout bounds the time from the end of reading the request
	// headers to the end of writing the response. Zero means no limit,
	// which streaming and long-polling handlers need.
	WriteTimeout time.Duration

	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. Zero falls back to ReadTimeout.
	IdleTimeout time.Duration

	// GracefulShutdownTimeout bounds a graceful shutdown: once it has
	// passed, the connections still open are closed and the requests they
	// carry are cut (and counted in the log). GoFrame expressed it in
	// seconds; here it is a time.Duration, so 5 seconds is 5*time.Second.
	// Zero means no limit of its own: only the context given to
	// [Server.Shutdown] bounds the drain.
	GracefulShutdownTimeout time.Duration

	// IdleDrainGrace is the longest a keep-alive connection may stay idle,
	// once a shutdown has begun, before the server closes it. Each
	// connection's own grace is derived from the round-trip time the
	// kernel measured on it (TCP_INFO on Linux: four times the smoothed
	// RTT plus four times its variance; the ceiling on other systems, the
	// floor for a unix socket's peer), so that a request a client sent
	// before the drain began always arrives first, with
	// [ServerConfig.IdleDrainGraceMin] as the floor and IdleDrainGrace as
	// the ceiling, the floor counted from the connection's last answer
	// (which the kernel tells with the round trip; otherwise from the
	// start of the drain); with many idle connections their closing is spread
	// over a window that grows with their number (200µs a connection,
	// TLS or not), so that their clients do not all reconnect (and
	// handshake) to the new generation at once; every connection idle
	// when the shutdown began is closed within IdleDrainGrace of it. A
	// connection is idle only when nothing of a next request has arrived:
	// one whose next request is pipelined behind the current one, or whose
	// header is still arriving, is answered first. A client that sends its
	// next request within the grace gets a full answer marked
	// "Connection: close" instead of a connection closed under its
	// request. Zero closes idle connections at once.
	//
	// For HTTP/2 it bounds the wait between the two GOAWAY frames of the
	// drain: the first refuses no stream and comes with a PING; the
	// second, which names the last stream the server will answer, goes
	// out as soon as the client has answered the PING (every request it
	// sent before the first GOAWAY has then arrived), or after this grace
	// for a client that does not answer.
	IdleDrainGrace time.Duration

	// IdleDrainGraceMin is the shortest idle grace of a connection (see
	// IdleDrainGrace), counted from its last answer: it covers a
	// keep-alive client whose next request comes a while after the
	// previous answer, because it paces its requests or is kept off a CPU
	// (a busy machine; a container whose CPU quota is throttled), and
	// that writes it without first noticing a close (a load generator, a
	// simple client; a proxy watches its idle connections). A connection
	// whose last answer is older than that is closed as soon as its round
	// trip allows, so the floor costs a drain nothing on connections that
	// were idle when it began. Set it to IdleDrainGrace for the same
	// grace on every connection.
	IdleDrainGraceMin time.Duration

	// HijackedGrace is how long hijacked connections (WebSockets, raw
	// streams) may live once a shutdown has begun. They are told through
	// [Draining] at the start and closed once the grace has passed and
	// the server's other connections have drained, or when the shutdown
	// timeout runs out.
	HijackedGrace time.Duration

	// MaxHeaderBytes limits the size of a request's header block. A
	// larger header gets "431 Request Header Fields Too Large". net/http
	// allows some slack before it refuses: 4096 bytes, plus, on a reused
	// keep-alive connection, what its 4 KiB read buffer already holds.
	MaxHeaderBytes int

	// KeepAlive enables HTTP keep-alive connections.
	KeepAlive bool

	// UnixSocketMode, when not zero, is the permission mode of the socket
	// file of a "unix:" address (0660 lets the file's group connect, as a
	// reverse proxy's unprivileged workers must). Zero leaves the mode to
	// the umask.
	//
	// The socket is bound with the owner's bits only, given its group,
	// and only then its full mode: at no moment can anyone connect whom
	// the settings do not allow. A socket inherited on restart gets the
	// settings again, so a changed mode or group takes effect.
	UnixSocketMode fs.FileMode

	// UnixSocketGroup, when set, is the group (a name or a numeric ID) of
	// the socket file of a "unix:" address. The process must run as root
	// or be a member of the group. Without UnixSocketMode the mode is
	// then 0660.
	UnixSocketGroup string

	// Logger receives the server's structured log lines. Nil means
	// [slog.Default].
	Logger *slog.Logger
}

// Default values of [ServerConfig], shared by [DefaultServerConfig], the
// config package and the generated JSON Schema.
const (
	DefaultReadTimeout             = 60 * time.Second
	DefaultReadHeaderTimeout       = 10 * time.Second
	DefaultWriteTimeout            = 0
	DefaultIdleTimeout             = 60 * time.Second
	DefaultGracefulShutdownTimeout = 30 * time.Second
	DefaultIdleDrainGrace          = time.Second
	DefaultIdleDrainGraceMin       = 500 * time.Millisecond
	DefaultHijackedGrace           = 5 * time.Second
	DefaultMaxHeaderBytes          = 10240
	DefaultKeepAlive               = true
)

// DefaultServerConfig returns the configuration a server gets when nothing
// else is said: the single source of defaults for this package, the config
// loader and the JSON Schema.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		ReadTimeout:             DefaultReadTimeout,
		ReadHeaderTimeout:       DefaultReadHeaderTimeout,
		WriteTimeout:            DefaultWriteTimeout,
		IdleTimeout:             DefaultIdleTimeout,
		GracefulShutdownTimeout: DefaultGracefulShutdownTimeout,
		IdleDrainGrace:          DefaultIdleDrainGrace,
		IdleDrainGraceMin:       DefaultIdleDrainGraceMin,
		HijackedGrace:           DefaultHijackedGrace,
		MaxHeaderBytes:          DefaultMaxHeaderBytes,
		KeepAlive:               DefaultKeepAlive,
	}
}
