// Package graceful runs network services that never drop a request: HTTP
// and HTTPS servers that stop without losing one, and a process lifecycle
// that hands every socket to a new process on restart.
//
// A [Server] wraps net/http's server. Its [Server.Shutdown] answers every
// request still arriving on open connections with "Connection: close",
// stops accepting (on a final stop on Linux, after serving what is queued
// on the listening sockets), sends HTTP/2 clients a GOAWAY that refuses nothing
// before the final one, closes a keep-alive connection only once nothing
// of a next request has arrived on it for a short grace, lets requests in
// flight finish, warns hijacked connections through [Draining], and only
// when the timeout passes closes what is left, saying in the log how much
// it cut.
//
// A [Process] runs the servers and any other [Service] (gRPC, raw TCP,
// UDP) of one generation of a program, and restarts it without downtime:
// by re-executing the binary, or with a supervisor that replaces worker
// processes ([RestartModeSupervisor]). One restart state machine serves
// both modes: the new process inherits the sockets ([Process.Listen],
// [Process.ListenPacket], [Process.NewServer]), reports ready, and only
// then does the old one drain; a new process that fails changes nothing,
// and one that dies or stops answering within [ProcessConfig.Probation]
// is rolled back from.
// It speaks sd_notify, adopts sockets from systemd's socket activation and
// file-descriptor store, writes a PID file and serves health endpoints.
//
// # Words
//
// The package, its logs and its documentation use one word for each of
// these:
//
//   - generation: one running instance of the service's code, numbered
//     from 1: a process in re-exec mode, a worker in supervisor mode.
//   - worker: a generation that a supervisor started; supervisor: the
//     process that holds the sockets and starts the workers
//     ([RestartModeSupervisor]).
//   - restart: replacing the serving generation by a new one, on the
//     restart signal or [Process.Restart]. The new one is the successor.
//   - handover: the moment the successor, ready, takes over the sockets
//     and the serving; the old generation hands over, then drains.
//   - drain: what a [Server] or [Service] does when it stops serving:
//     it stops accepting and finishes the work it has.
//   - probation: the time after a handover during which the old
//     generation keeps its sockets and serves again if the successor
//     dies or stops answering: a rollback.
//   - final stop: a stop with no successor (SIGTERM): on Linux, what is
//     queued on the sockets is served before they close (except on the
//     sockets systemd keeps for its next start).
//   - lineage: the generations of one service, one after another; the
//     older ones still draining are the ancestors of the newest.
//   - inherited: said of a socket or file that a process got from the
//     one that started it (the previous generation, a supervisor or
//     systemd); a server adopts an inherited socket as its listener.
//
// The package depends on the standard library, golang.org/x/sys and
// go-systemd only; loading configuration files is the job of the config
// package.
package graceful
