//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// http1Restarts is how many restarts the HTTP/1 client runs span, per
// mode.
const http1Restarts = 15

// TestPipelinedAndSlowHeaderClientsAcrossRestarts runs, against
// examples/reload restarting 15 times in each mode, HTTP/1.1 clients that
// the drain must not mistake for idle and that never retry: clients that
// write ten requests at once on a connection (every one must be answered,
// though the drain answers them on a connection it wants closed), and
// clients that send each request's header in 15 pieces (a drain that
// begins while one is arriving must answer it, not close the connection
// as idle).
func TestPipelinedAndSlowHeaderClientsAcrossRestarts(t *testing.T) {
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
			s := startSubject(t, subjectOptions{
				name: "reload-" + mode,
				addr: addr,
				yaml: fmt.Sprintf(`process:
  mode: %s
  probation: 0s
server:
  # A client stalled by a busy machine (the suite runs under -race and
  # stress-ng too) may leave its connection idle for a while; closing it
  # then races with its next request, as any HTTP/1.1 idle close does
  # (README, Limits). The grace covers such stalls: what this test checks
  # is that a connection with a request pending is never taken for idle.
  idleDrainGrace: 3s
  idleDrainGraceMin: 3s
log:
  level: warn
`, mode),
				supervisor: mode == "supervisor",
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var res *loadgen.Result
			var wg sync.WaitGroup
			wg.Go(func() {
				var clients [loadgen.NumKinds]int
				clients[loadgen.Pipelined] = 4
				clients[loadgen.SlowHeader] = 6
				res = loadgen.Run(ctx, loadgen.Options{
					Address:       addr,
					Clients:       clients,
					PipelineDepth: 10,
					HeaderPieces:  15,
					HeaderGap:     20 * time.Millisecond,
				})
			})
			s.restarts(http1Restarts, restartPause)
			cancel()
			wg.Wait()
			s.stop()

			t.Logf("%s: %d restarts, pipelined %d requests, slow-header %d requests: %s",
				mode, http1Restarts, res.Requests[loadgen.Pipelined], res.Requests[loadgen.SlowHeader], res.Summary())
			if res.Requests[loadgen.Pipelined] == 0 || res.Requests[loadgen.SlowHeader] == 0 {
				t.Error("a kind of client made no request")
			}
			for i, f := range res.Failures {
				if i == 10 {
					t.Errorf("... %d failures in all", len(res.Failures))
					break
				}
				t.Errorf("lost: %s", f)
			}
		})
	}
}

// TestFinalStopUnderDirectLoadLosesNothing stops examples/reload with
// SIGTERM (no successor, shutdownDelay 0s) 10 times in each mode while
// clients connect straight to its port: a new connection per request, and
// keep-alive connections. A client may find the port closed (its
// connection never opens, which is safe to retry), but every request it
// has written must be answered: none may sit in the listener's accept
// queue when the last listener closes, which would reset it.
func TestFinalStopUnderDirectLoadLosesNothing(t *testing.T) {
	const stops = 10
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			var sent, unsent, answered int
			for i := range stops {
				addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
				s := startSubject(t, subjectOptions{
					name: fmt.Sprintf("reload-%s-%d", mode, i),
					addr: addr,
					// Every idle connection gets the full grace: a keep-alive
					// client sends its next request at once, but on a loaded
					// machine it may not run for longer than the default
					// floor (500 ms after its answer), and a request sent after its
					// connection's grace is the race the docs describe,
					// not a loss this test is about.
					yaml: fmt.Sprintf(`process:
  mode: %s
  shutdownDelay: 0s
server:
  idleDrainGraceMin: 1s
log:
  level: warn
`, mode),
					supervisor: mode == "supervisor",
				})
				ctx, cancel := context.WithCancel(context.Background())
				var res *loadgen.Result
				var wg sync.WaitGroup
				wg.Go(func() {
					var clients [loadgen.NumKinds]int
					clients[loadgen.NewConnGet] = 8
					clients[loadgen.KeepAliveGet] = 4
					res = loadgen.Run(ctx, loadgen.Options{Address: addr, Clients: clients, StopOnRefused: true, RequestTimeout: 30 * time.Second})
				})
				// Stop once the load is on.
				waitFor(t, "the load to reach the server", 30*time.Second, func() bool { return s.bodyPID() != 0 }, s.g.Logs)
				time.Sleep(100 * time.Millisecond) // a pace, never a verdict
				pid := readPID(s.pidFile)
				s.g.Signal(pid, syscall.SIGTERM)
				s.checkGone()
				// The clients stop on their own: every dial is refused once
				// the port is closed.
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					cancel()
					<-done
					t.Fatal("clients still running a minute after the service stopped")
				}
				cancel()
				answered += res.Successes
				for _, f := range res.Failures {
					if !f.Sent {
						unsent++
						continue
					}
					sent++
					if sent <= 10 {
						t.Errorf("stop %d: a request sent and not answered: %s", i+1, f)
					}
				}
			}
			t.Logf("%s: %d stops under direct load: %d requests answered, %d sent and not answered, %d connections that never opened",
				mode, stops, answered, sent, unsent)
			if sent > 0 {
				t.Errorf("%d requests sent and not answered", sent)
			}
		})
	}
}
