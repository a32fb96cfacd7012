//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/exampletest"
	"github.com/gracekit/gracekit/internal/proctest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// These tests build the example and drive it with gRPC clients from
// outside: unary RPCs on a long-lived connection and on a new connection
// each, and server streams begun on the old process before each restart.

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// service is a running example in its own process group.
type service struct {
	t                  *testing.T
	httpAddr, grpcAddr string
	pidFile            string
	g                  *proctest.Group
}

func start(t *testing.T, bin, yaml string) *service {
	t.Helper()
	dir := t.TempDir()
	s := &service{t: t, httpAddr: exampletest.FreeAddr(t, "tcp"), grpcAddr: exampletest.FreeAddr(t, "tcp"), pidFile: filepath.Join(dir, "grpc.pid")}
	conf := filepath.Join(dir, "grpc.yaml")
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s.g = proctest.Start(t, proctest.Options{Name: "grpc", Argv: []string{bin, "-addr", s.httpAddr, "-grpc-addr", s.grpcAddr, "-pidfile", s.pidFile, "-config", conf}})
	return s
}

// top is the process the PID file names: the serving generation, or the
// supervisor.
func (s *service) top(t *testing.T) int { return exampletest.PIDFile(t, s.pidFile) }

func TestGRPCAcrossRestarts(t *testing.T) {
	bin := exampletest.Build(t, "grpc")
	proctest.BecomeSubreaper()
	curl := exampletest.OptionalTool(t, "curl")
	// The gRPC message of an empty SimpleRequest: not compressed, length 0.
	frame := filepath.Join(t.TempDir(), "empty.grpc")
	if err := os.WriteFile(frame, make([]byte, 5), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t, bin, "process:\n  mode: "+mode+"\n  probation: 0s\nlog:\n  level: warn\n")
			serving := exampletest.WaitPID(t, s.httpAddr, 0, s.g.Logs)

			var ok, failed atomic.Int64
			var mu sync.Mutex
			var errs []string
			fail := func(err error) {
				failed.Add(1)
				mu.Lock()
				if len(errs) < 10 {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			long := dial(t, s.grpcAddr)
			defer long.Close()
			wg.Go(func() { // one long-lived connection
				c := testpb.NewTestServiceClient(long)
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
					cancel()
					if err != nil {
						fail(fmt.Errorf("unary on the long-lived connection: %w", err))
						continue
					}
					ok.Add(1)
				}
			})
			wg.Go(func() { // a new connection per RPC
				for {
					select {
					case <-stop:
						return
					default:
					}
					cc := dial(t, s.grpcAddr)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
					cancel()
					cc.Close()
					if err != nil {
						fail(fmt.Errorf("unary on a new connection: %w", err))
						continue
					}
					ok.Add(1)
				}
			})

			// curl never retries (grpc-go retries an RPC transparently when
			// the server refused its stream unread): a new connection and
			// one unary RPC per curl process.
			var curlOK, curlCut atomic.Int64
			if curl != "" {
				body := filepath.Join(t.TempDir(), "answer")
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						cut, err := curlUnary(curl, s.grpcAddr, frame, body)
						switch {
						case err != nil:
							fail(err)
						case cut:
							curlCut.Add(1)
						default:
							curlOK.Add(1)
						}
					}
				})
			}

			const restarts = 20
			streams, broken := 0, 0
			sc := testpb.NewTestServiceClient(long)
			for range restarts {
				// A stream begun on the serving process finishes there.
				params := make([]*testpb.ResponseParameters, 5)
				for i := range params {
					params[i] = &testpb.ResponseParameters{IntervalUs: 50_000}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				st, err := sc.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: params})
				if err != nil {
					cancel()
					t.Fatalf("stream: %v", err)
				}
				first, err := st.Recv()
				if err != nil {
					cancel()
					t.Fatalf("stream, first message: %v", err)
				}
				origin, _, _ := strings.Cut(string(first.GetPayload().GetBody()), " ")
				exampletest.Signal(t, s.top(t), syscall.SIGHUP)
				got := 1
				for {
					m, err := st.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Errorf("stream from %s broke after %d messages: %v", origin, got, err)
						break
					}
					if o, _, _ := strings.Cut(string(m.GetPayload().GetBody()), " "); o != origin {
						t.Errorf("stream moved from %s to %s", origin, o)
					}
					got++
				}
				cancel()
				streams++
				if got != len(params) {
					broken++
				}
				next := exampletest.WaitPID(t, s.httpAddr, serving, s.g.Logs)
				s.g.WaitGone(serving, 30*time.Second)
				serving = next
			}
			close(stop)
			wg.Wait()
			t.Logf("%s: %d restarts; grpc-go: %d unary RPCs ok; curl (new connection per RPC): %d ok, %d whole answers whose trailers curl dropped at a GOAWAY; %d failed in all; %d server streams begun before a restart, %d broken",
				mode, restarts, ok.Load(), curlOK.Load(), curlCut.Load(), failed.Load(), streams, broken)
			if failed.Load() > 0 || broken > 0 {
				t.Errorf("lost: %v", errs)
			}
			if ok.Load() == 0 || (curl != "" && curlOK.Load() == 0) {
				t.Errorf("no RPC succeeded: grpc-go %d, curl %d", ok.Load(), curlOK.Load())
			}
			exampletest.Signal(t, s.top(t), syscall.SIGTERM)
			if mode == "supervisor" {
				if st := s.g.WaitFirst(60 * time.Second); st != "exit status 0" {
					t.Errorf("supervisor exit: %s", st)
				}
			}
		})
	}
}

// curlUnary makes one UnaryCall with curl over h2c (prior knowledge) on a
// connection of its own, sending the gRPC message in frame and writing the
// answer to body. It fails unless curl succeeds, the HTTP status is 200,
// the answer is one whole gRPC message, and the trailers say grpc-status
// 0, with one exception it reports as cut: curl 7.88 stops reading a
// connection once a GOAWAY arrives, even for a stream the GOAWAY lets
// finish, so a stream whose whole message came before the server's drain
// notice ends without its trailers, and curl exits 0 (its -v trace says
// so).
func curlUnary(curl, addr, frame, body string) (cut bool, err error) {
	cmd := exec.Command(curl, "-sSv", "--http2-prior-knowledge", "--max-time", "10",
		"-X", "POST", "-H", "content-type: application/grpc", "-H", "te: trailers",
		"--data-binary", "@"+frame, "-D", "-", "-o", body,
		"http://"+addr+"/grpc.testing.TestService/UnaryCall")
	var out, trace bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &trace
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("curl: %v: %s", err, strings.TrimSpace(trace.String()))
	}
	b, err := os.ReadFile(body)
	if err != nil {
		return false, err
	}
	whole := len(b) >= 5 && b[0] == 0 && int(binary.BigEndian.Uint32(b[1:5])) == len(b)-5
	if !strings.HasPrefix(out.String(), "HTTP/2 200") || !whole {
		return false, fmt.Errorf("curl: not a whole gRPC answer (%d bytes): %q; curl -v said:\n%s", len(b), out.String(), trace.String())
	}
	switch {
	case strings.Contains(out.String(), "grpc-status: 0\r\n"):
		return false, nil
	case !strings.Contains(out.String(), "grpc-status:") && strings.Contains(trace.String(), "GOAWAY"):
		return true, nil
	}
	return false, fmt.Errorf("curl: the gRPC status is not OK: %q; curl -v said:\n%s", out.String(), trace.String())
}

// TestHealthTurnsNotServingOnStop: from the moment SIGTERM arrives, through
// the shutdown delay, the health service answers NOT_SERVING while RPCs
// are still served.
func TestHealthTurnsNotServingOnStop(t *testing.T) {
	bin := exampletest.Build(t, "grpc")
	s := start(t, bin, "process:\n  shutdownDelay: 30s\nlog:\n  level: warn\n")
	pid := exampletest.WaitPID(t, s.httpAddr, 0, s.g.Logs)
	cc := dial(t, s.grpcAddr)
	defer cc.Close()
	h := healthpb.NewHealthClient(cc)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return r.GetStatus()
	}
	if st := check(); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before the stop: %v", st)
	}
	exampletest.Signal(t, pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for check() != healthpb.HealthCheckResponse_NOT_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("health still SERVING 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Still serving during the delay.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
		t.Errorf("RPC during the shutdown delay: %v", err)
	}
	// A second SIGTERM skips the rest of the delay.
	exampletest.Signal(t, pid, syscall.SIGTERM)
	if st := s.g.WaitFirst(60 * time.Second); st != "exit status 0" {
		t.Errorf("exit: %s", st)
	}
}
