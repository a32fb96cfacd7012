// Package load holds what the bench records of the traffic it drives:
// the Recorder (a loadgen.Sink with a timeline, latency histograms and the
// process IDs that answered), one-shot probes and hijacked streams. The
// clients themselves are internal/loadgen's, the same ones the main
// module's tests use.
package load

import (
	"context"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// Drive runs loadgen's clients (clients of each kind) against addr until
// ctx ends, recording every outcome into rec, and returns once every
// client has stopped. A client sends at most ten million requests.
func Drive(ctx context.Context, addr string, clients [loadgen.NumKinds]int, rec *Recorder) {
	loadgen.Drive(ctx, loadgen.Options{Address: addr, Clients: clients, MaxRequests: 10_000_000}, rec)
}
