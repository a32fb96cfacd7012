package graceful

import (
	"context"
)

// A Service is anything a [Process] serves and drains in step with its
// HTTP servers: a gRPC server, a raw TCP protocol, a UDP responder. Take
// its sockets from [Process.Listen] and [Process.ListenPacket], so that
// they are handed to the next generation on restart, and register it with
// [Process.Add]. A [*Server] is a Service.
type Service interface {
	// Serve serves until Shutdown is called, and then returns once the
	// drain is over (or at once). The Process calls it from Run, in a
	// goroutine of its own; ctx is never cancelled to stop the service:
	// Shutdown is. An error other than ErrServerClosed before Shutdown
	// means the service failed, and the process shuts down.
	Serve(ctx context.Context) error

	// Shutdown stops accepting new work, lets the work in progress
	// finish, and returns when it has, or when ctx ends, in which case it
	// cuts what is left and returns ctx's error. The Process calls it
	// once this generation stops serving: after the shutdown delay on a
	// final stop, as soon as the successor is ready on a restart. Its ctx
	// ends after the longest [ServerConfig.GracefulShutdownTimeout] of the
	// process's servers ([DefaultGracefulShutdownTimeout] when it has
	// none, never when none of them has a limit), so that work that never
	// ends (a stream a client keeps open) cannot keep an old generation
	// alive. A Shutdown still running a second after ctx ended, or a
	// Serve still running a second after Shutdown returned, is logged as
	// an error and left behind: the drain, and the process's exit, go on
	// without it.
	Shutdown(ctx context.Context) error
}

// A StoppingService is told the moment its process stops serving: a
// shutdown was requested (before [ProcessConfig.ShutdownDelay]) or a
// successor took over. A gRPC server sets its health status to
// NOT_SERVING there, so that clients move to the connections of the
// generation that serves. (The readiness endpoint answers for the
// service instead: see [Process.ReadinessHandler].)
type StoppingService interface {
	Service
	Stopping()
}

// A ResumableService can serve again after its Shutdown: a generation
// whose successor dies or stops answering within [ProcessConfig.Probation]
// rolls back by
// resuming every service, and a process whose services are not all
// resumable does not roll back.
//
// Resume prepares the service to be served again; the Process then calls
// Serve anew. It is called while the previous Shutdown may still be
// draining work from before, which must not be disturbed, or before that
// Shutdown has been called: a service whose successor died at once must
// be ready for either order. A service takes fresh listeners from
// [Process.Listen] in Resume (the ones it had are closed by its
// Shutdown); the Process keeps the sockets a service uses open until the
// rollback or the end of the drain.
type ResumableService interface {
	Service
	Resume() error
}

// HandingOver reports whether ctx, given to a [Service]'s Shutdown (or to
// [Server.Shutdown]) by a [Process], belongs to a restart, in which a new
// generation goes on serving the same sockets, rather than to a final
// stop (a final stop of a socket systemd keeps for its next start counts
// as a handover too: the queue waits for that start). A service that drains differently in the two cases (a QUIC
// server that passes its connections' packets on, say) asks here; a
// [Server] leaves the connections queued on its sockets to the new
// generation, where a final stop serves them itself.
func HandingOver(ctx context.Context) bool {
	v, _ := ctx.Value(handingOverKey{}).(bool)
	return v
}

type handingOverKey struct{}

// withHandingOver marks ctx as the context of a restart's shutdown.
func withHandingOver(ctx context.Context) context.Context {
	return context.WithValue(ctx, handingOverKey{}, true)
}

type queueServedKey struct{}

// withQueueServed marks ctx as the context of a final shutdown whose
// socket the Process has already quiesced (see quiesce.go): it refuses new
// connections and what was queued on it has been accepted, so the server
// closes its listener without waiting again.
func withQueueServed(ctx context.Context) context.Context {
	return context.WithValue(ctx, queueServedKey{}, true)
}

func queueServed(ctx context.Context) bool {
	v, _ := ctx.Value(queueServedKey{}).(bool)
	return v
}
