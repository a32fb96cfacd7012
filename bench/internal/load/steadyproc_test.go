package load

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/handler"
)

// TestMain lets the test binary be the steady client process that
// StartSteadyProcess starts.
func TestMain(m *testing.M) {
	RunSteadyChildIfAsked()
	os.Exit(m.Run())
}

// A steady client in a process of its own sends on both loops, its
// records reach the parent whole, and it stops when ctx ends.
func TestSteadyProcess(t *testing.T) {
	srv := httptest.NewServer(handler.New(handler.Options{}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	t0 := time.Now()
	c, err := StartSteadyProcess(ctx, srv.Listener.Addr().String(), "", 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Until both loops have answers (bounded: the test's own timeout).
	for {
		var ka, fresh int
		for _, r := range c.Between(t0, time.Now()) {
			if !r.OK {
				t.Fatalf("request due at %s failed: %s", r.Due.Format("15:04:05.000"), r.Err)
			}
			if r.KeepAlive {
				ka++
			} else {
				fresh++
			}
		}
		if ka >= 5 && fresh >= 5 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the steady client process did not stop after ctx ended")
	}
	for _, r := range c.Between(time.Time{}, time.Now().Add(time.Hour)) {
		if !r.OK || r.Latency <= 0 || r.Due.Before(t0.Add(-time.Second)) {
			t.Fatalf("bad record %+v", r)
		}
	}
}

func TestSteadyRecordRoundTrip(t *testing.T) {
	in := SteadyRequest{Due: time.Unix(0, 1733456789123456789), Latency: 1234567, KeepAlive: true, Err: "eof: unexpected EOF\nmore"}
	out, err := parseSteadyRecord(formatSteadyRecord(in))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Due.Equal(in.Due) || out.Latency != in.Latency || out.KeepAlive != in.KeepAlive || out.OK != in.OK || out.Err != "eof: unexpected EOF more" {
		t.Fatalf("round trip: %+v -> %+v", in, out)
	}
	for _, bad := range []string{"", "1 2 3", "x 2 0 1 ", "1 2 7 1 "} {
		if _, err := parseSteadyRecord(bad); err == nil {
			t.Errorf("parseSteadyRecord(%q) accepted", bad)
		}
	}
}
