package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

const (
	// maxSleep bounds the ?sleep= parameter.
	maxSleep = 60 * time.Second
	// streamTick is the interval between two lines of a /stream.
	streamTick = 50 * time.Millisecond
	// maxStream bounds the life of a /stream.
	maxStream = 60 * time.Second
)

// handler answers with the PID of the process that served the request.
func handler() http.Handler {
	pid := os.Getpid()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		stream(w, r, pid)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > maxSleep {
				http.Error(w, fmt.Sprintf("sleep must be a duration from 0 to %s", maxSleep), http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "pid=%d read=%d\n", pid, n)
	})
	return mux
}

// stream takes the connection over (as a WebSocket would) and writes a
// line every streamTick. When the server starts to drain, it says goodbye
// and closes, so that the client reconnects to the next generation before
// the server's HijackedGrace runs out.
func stream(w http.ResponseWriter, r *http.Request, pid int) {
	proto := r.Header.Get("Upgrade")
	if proto == "" {
		http.Error(w, "send an Upgrade header", http.StatusBadRequest)
		return
	}
	draining := graceful.Draining(r.Context())
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", proto)
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	end := time.NewTimer(maxStream)
	defer end.Stop()
	for n := 0; ; n++ {
		fmt.Fprintf(bw, "tick pid=%d n=%d\n", pid, n)
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if bw.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-draining:
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
