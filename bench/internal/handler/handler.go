// Package handler is the HTTP handler that every bench subject serves, so
// that the subjects differ only in how they listen, restart and shut down.
//
// GET or POST / answers 200 with "pid=<pid>" in the body (a POST body is
// read to the end first); "?sleep=250ms" delays the answer (at most
// MaxSleep); GET /stream with an "Upgrade" header hijacks the connection
// and writes a tick line every StreamTick until the client leaves, the
// server says it is draining, or MaxStream passes.
package handler

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const (
	// MaxSleep bounds the delay a request can ask for with ?sleep=.
	MaxSleep = 60 * time.Second
	// StreamTick is the interval between two lines of a hijacked stream.
	StreamTick = 50 * time.Millisecond
	// MaxStream bounds the life of a hijacked stream.
	MaxStream = 60 * time.Second
	// StreamProtocol is the Upgrade token the stream endpoint answers.
	StreamProtocol = "bench-stream"
)

// Options tune the handler.
type Options struct {
	// Draining, when set, returns a channel that closes when the server
	// serving the request's context starts to shut down; the stream then
	// says goodbye and closes. Nil means streams never hear of it.
	Draining func(ctx context.Context) <-chan struct{}
}

// New returns the shared handler. It is a single function rather than a
// ServeMux, like examples/reload's, so that routing costs the same in
// every subject.
func New(o Options) http.Handler {
	pid := os.Getpid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/stream" && r.Method == http.MethodGet:
			stream(w, r, pid, o.Draining)
			return
		case r.URL.Path != "/":
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				http.Error(w, "bad sleep duration", http.StatusBadRequest)
				return
			}
			if !pause(r.Context(), min(d, MaxSleep)) {
				return
			}
		}
		fmt.Fprintf(w, "pid=%d read=%d\n", pid, n)
	})
}

// pause waits for d or until the request is abandoned; it reports whether
// the whole delay passed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stream hijacks the connection and writes tick lines until the client
// goes, the server drains, or MaxStream passes.
func stream(w http.ResponseWriter, r *http.Request, pid int, draining func(context.Context) <-chan struct{}) {
	if r.Header.Get("Upgrade") != StreamProtocol {
		http.Error(w, "send Upgrade: "+StreamProtocol, http.StatusBadRequest)
		return
	}
	var drain <-chan struct{}
	if draining != nil {
		drain = draining(r.Context())
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	_ = rw // the client sends nothing after the upgrade request
	fmt.Fprintf(bw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", StreamProtocol)
	tick := time.NewTicker(StreamTick)
	defer tick.Stop()
	end := time.NewTimer(MaxStream)
	defer end.Stop()
	for n := 0; ; n++ {
		fmt.Fprintf(bw, "tick pid=%d n=%d\n", pid, n)
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if bw.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-drain:
			fmt.Fprintf(bw, "bye pid=%d draining\n", pid)
			_ = bw.Flush()
			return
		case <-end.C:
			fmt.Fprintf(bw, "bye pid=%d max-stream\n", pid)
			_ = bw.Flush()
			return
		}
	}
}
