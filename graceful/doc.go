// Package graceful runs HTTP and HTTPS servers that stop without losing a
// request, and hands their listening sockets to a new process on restart.
//
// A [Server] wraps net/http's server. Its [Server.Shutdown] closes the
// listeners first, answers every request still arriving on open
// connections with "Connection: close", gives idle keep-alive connections
// a short grace to send one more request, lets requests in flight finish,
// warns hijacked connections through [Draining], and only when the
// timeout passes closes what is left, saying in the log how much it cut.
//
// The package depends on the standard library and golang.org/x/sys only;
// loading configuration files is the job of the config package.
package graceful
