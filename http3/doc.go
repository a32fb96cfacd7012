// Package http3 serves HTTP/3 (over QUIC, with quic-go) from a
// graceful.Process, so that restarts lose no request and no connection.
//
// QUIC connections live in the process, not in the kernel: after a
// restart the new generation reads the UDP socket it inherited, and a
// packet of a connection the old generation still drains would reach a
// process that does not know it. Two designs exist. Cloudflare's udpgrm
// attaches a reuseport eBPF program that steers each packet in the kernel
// by a generation cookie in its connection ID; it needs a BPF loader,
// privileges and one socket per generation. Envoy's hot restart forwards
// the packets of the parent's connections from the child to the parent
// in user space. This package takes Envoy's way, because it needs nothing
// installed and no privilege, and works the same in re-exec and supervisor
// mode and on every Unix:
//
//   - every connection ID the Server issues carries its generation,
//     encrypted with a key all generations share (see marker);
//   - each generation makes a unix datagram socket pair and passes one end
//     on to the later generations ([graceful.Process.PassOn]); the newest
//     generation reads the UDP socket and forwards a packet with an older
//     generation's mark over that generation's pair, with the client's
//     address in a small header, and the older generation answers on its
//     own descriptor of the UDP socket;
//   - new connections go to the newest generation; a packet an older
//     generation still reads (during the moment both read) that belongs
//     to a newer one is passed up over its own pair.
//
// A Server drains with GOAWAY: each connection is told to go away while
// it has a request in progress or after an idle grace that starts when
// its handshake completes, every request accepted is answered, and the
// connection is then closed; the endpoint lives until no connection is
// left, handshakes in progress included. After a rollback the old
// generation reads the UDP socket again. README.md has the details and
// the limits (quic-go's single GOAWAY, no GSO or ECN behind the router). The TLS session
// ticket keys, the QUIC stateless reset key and the address-validation
// token key come from [graceful.Process.Secret], so that resumption,
// 0-RTT and tokens survive restarts, and a packet of a generation that has
// exited gets a valid stateless reset.
//
// The module is separate from gracekit's, so that a program that serves
// no HTTP/3 does not have quic-go in its module graph.
package http3
