package load

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
)

// Idle connections that the server closes reconnect and answer again;
// the steady client's requests all succeed while nothing restarts.
func TestIdlePoolReconnectsAndSteadyClientAnswers(t *testing.T) {
	srv := httptest.NewServer(handler.New(handler.Options{}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pctx, stop := context.WithCancel(ctx)
	pool := StartIdlePool(pctx, addr, nil, 5)
	steady := StartSteady(pctx, addr, nil, 2*time.Millisecond)
	if !pool.WaitConnected(ctx, 5, 10*time.Second) {
		t.Fatalf("%d of 5 idle connections open", pool.Connected())
	}
	t0 := time.Now()
	srv.CloseClientConnections()
	var closes, answered []time.Time
	for time.Since(t0) < 10*time.Second {
		closes, answered = pool.Since(t0)
		if len(closes) >= 5 && len(answered) >= 5 && pool.Connected() == 5 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(closes) < 5 || len(answered) < 5 {
		t.Fatalf("after closing the connections: %d closes seen, %d reconnects answered, want 5 and 5", len(closes), len(answered))
	}
	steadyFrom := time.Now()
	time.Sleep(50 * time.Millisecond)
	stop()
	pool.Wait()
	steady.Wait()
	if failed, reqs, first := pool.Failed(); failed != 0 || reqs < 10 {
		t.Errorf("idle pool: %d of %d failed (%s)", failed, reqs, first)
	}
	// CloseClientConnections also closed the steady client's keep-alive
	// connection, whose next request then fails (the client never
	// retries) before it reconnects: only the new-connection loop must
	// never fail, and the keep-alive loop must answer again.
	keepAliveOK := 0
	for _, r := range steady.Between(steadyFrom, time.Now()) {
		switch {
		case r.KeepAlive && r.OK:
			keepAliveOK++
		case !r.KeepAlive && !r.OK:
			t.Errorf("steady request on a new connection, due at %s, failed: %s", r.Due.Format("15:04:05.000"), r.Err)
		}
	}
	if keepAliveOK == 0 {
		t.Error("the steady keep-alive loop had no answer after the connections were closed")
	}
}

// Over TLS, a pool whose config has a session cache resumes each
// reconnect's session (every client with a cache of its own); without
// one, none resumes.
func TestIdlePoolResumesTLSSessionsOnlyWithACache(t *testing.T) {
	srv := httptest.NewTLSServer(handler.New(handler.Options{}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, resume := range []bool{false, true} {
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if resume {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pool := StartIdlePool(ctx, addr, cfg, 5)
		if !pool.WaitConnected(ctx, 5, 10*time.Second) {
			cancel()
			t.Fatalf("resume %v: %d of 5 idle connections open", resume, pool.Connected())
		}
		t0 := time.Now()
		srv.CloseClientConnections()
		var answered []time.Time
		for time.Since(t0) < 10*time.Second {
			if _, answered = pool.Since(t0); len(answered) >= 5 && pool.Connected() == 5 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		resumed := pool.ResumedSince(t0)
		cancel()
		pool.Wait()
		if len(answered) < 5 {
			t.Fatalf("resume %v: %d reconnects answered, want 5", resume, len(answered))
		}
		if want := map[bool]int{false: 0, true: len(answered)}[resume]; resumed != want {
			t.Errorf("resume %v: %d of %d reconnects resumed, want %d", resume, resumed, len(answered), want)
		}
		if failed, reqs, first := pool.Failed(); failed != 0 {
			t.Errorf("resume %v: %d of %d failed (%s)", resume, failed, reqs, first)
		}
	}
}
