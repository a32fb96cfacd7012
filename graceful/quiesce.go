package graceful

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// handshakeWait bounds how long a final shutdown waits, after its
// listening sockets stopped taking new connections, for handshakes that
// were under way to complete into the accept queue (one round trip; a
// client whose final ACK is lost retries for longer than anyone waits).
const handshakeWait = time.Second

// quiescer is one listening socket being quiesced: a listener, or a
// descriptor the Process holds.
type quiescer struct {
	name    string
	control func(fn func(fd int)) bool
}

// quiesceListeners makes each listener refuse new connections and waits
// until the connections already queued on it have been accepted (by the
// server's accept loops, which go on meanwhile) and the handshakes under
// way have completed, or ctx ends. It returns how many connections were
// queued when it began. On systems other than Linux it does nothing.
func quiesceListeners(ctx context.Context, lns []net.Listener, logger *slog.Logger) int {
	qs := make([]quiescer, 0, len(lns))
	for _, ln := range lns {
		qs = append(qs, quiescer{name: formatAddr(ln.Addr()), control: func(fn func(fd int)) bool { return fdOf(ln, fn) }})
	}
	return quiesce(ctx, qs, logger)
}

func quiesce(ctx context.Context, qs []quiescer, logger *slog.Logger) int {
	if !quiesceSupported || len(qs) == 0 {
		return 0
	}
	var live []quiescer
	for _, q := range qs {
		var err error
		if !q.control(func(fd int) { err = refuseNew(fd) }) {
			continue // not a socket of ours (a listener of another kind)
		}
		if err != nil {
			logger.Warn("cannot make the listening socket refuse new connections; connections still queued when it closes are reset",
				"address", q.name, "error", err)
			continue
		}
		live = append(live, q)
	}
	begin := time.Now()
	first := -1
	poll := time.Millisecond
	for {
		queued := 0
		var locals []tcpAddr
		for _, q := range live {
			var n int
			var local tcpAddr
			var ok bool
			var err error
			q.control(func(fd int) { n, local, ok, err = acceptQueue(fd) })
			if err != nil {
				logger.Debug("cannot read the accept queue", "address", q.name, "error", err)
			}
			queued += n
			if ok {
				locals = append(locals, local)
			}
		}
		if first < 0 {
			first = queued
		}
		if queued == 0 {
			// The handshakes under way are counted once the queues are
			// empty, for every socket at once.
			handshaking, err := handshakes(locals)
			if err != nil {
				logger.Debug("cannot count the handshakes under way", "error", err)
			}
			if handshaking == 0 || time.Since(begin) > handshakeWait {
				return first
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return first
		}
		poll = min(2*poll, 20*time.Millisecond)
	}
}
