package grpcservice

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/gracekit/gracekit/graceful"
)

// gated streams one message per value received on step, so that the test,
// not the clock, decides when an RPC is in progress and when it ends.
type gated struct {
	testpb.UnimplementedTestServiceServer
	started chan struct{}
	step    chan struct{}
}

func (g *gated) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (g *gated) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, st testpb.TestService_StreamingOutputCallServer) error {
	g.started <- struct{}{}
	for range req.GetResponseParameters() {
		select {
		case <-g.step:
		case <-st.Context().Done():
			return st.Context().Err()
		}
		if err := st.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return nil
}

func newService(t *testing.T) (*Service, *gated) {
	t.Helper()
	cfg := graceful.DefaultProcessConfig()
	cfg.PIDFile = ""
	p, err := graceful.NewProcess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &gated{started: make(chan struct{}, 8), step: make(chan struct{})}
	svc, err := New(p, "tcp", "127.0.0.1:0", func() *grpc.Server {
		s := grpc.NewServer()
		testpb.RegisterTestServiceServer(s, g)
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, g
}

func serve(t *testing.T, svc *Service) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- svc.Serve(context.Background()) }()
	return errc
}

func dial(t *testing.T, svc *Service) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(svc.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func check(t *testing.T, cc *grpc.ClientConn) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return resp.GetStatus()
}

func wantClosed(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, graceful.ErrServerClosed) {
			t.Fatalf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestHealthTurnsNotServingOnStopping(t *testing.T) {
	svc, _ := newService(t)
	errc := serve(t, svc)
	cc := dial(t, svc)
	if got := check(t, cc); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("while serving: %v", got)
	}
	svc.Stopping()
	if got := check(t, cc); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after Stopping: %v", got)
	}
	if err := svc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, errc)
}

func TestGracefulStopLetsAStreamFinish(t *testing.T) {
	svc, g := newService(t)
	errc := serve(t, svc)
	cc := dial(t, svc)
	const n = 5
	req := &testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, n)}
	st, err := testpb.NewTestServiceClient(cc).StreamingOutputCall(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	<-g.started
	shut := make(chan error, 1)
	go func() { shut <- svc.Shutdown(context.Background()) }()
	got := 0
	for i := range n {
		g.step <- struct{}{}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("message %d of the stream in flight during Shutdown: %v", i, err)
		}
		got++
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got != n {
		t.Fatalf("%d of %d messages", got, n)
	}
	wantClosed(t, errc)
}

func TestShutdownCutsWhenCtxEnds(t *testing.T) {
	svc, g := newService(t)
	errc := serve(t, svc)
	cc := dial(t, svc)
	req := &testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, 1)}
	st, err := testpb.NewTestServiceClient(cc).StreamingOutputCall(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	<-g.started
	// The stream never gets a step: only the end of ctx stops it.
	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan error, 1)
	go func() { shut <- svc.Shutdown(ctx) }()
	cancel()
	if err := <-shut; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if _, err := st.Recv(); err == nil || err == io.EOF {
		t.Fatalf("the cut stream got %v, want an error", err)
	}
	wantClosed(t, errc)
}
