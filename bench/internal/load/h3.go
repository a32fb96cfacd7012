package load

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// H3Tally counts the requests of one kind of HTTP/3 client: the failed
// ones by class, with the first few messages.
type H3Tally struct {
	Requests, Failed int
	// ByClass counts the failures ("exit 7", "status 502", "timeout",
	// ...); Samples are the first of them with the client's message.
	ByClass map[string]int
	Samples []string
	// PIDs counts the answers by the pid= they carried.
	PIDs map[int]int

	mu sync.Mutex
}

// Add records one request: class is "" for a success.
func (t *H3Tally) Add(class, msg string, pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ByClass == nil {
		t.ByClass, t.PIDs = map[string]int{}, map[int]int{}
	}
	t.Requests++
	if class == "" {
		t.PIDs[pid]++
		return
	}
	t.Failed++
	t.ByClass[class]++
	if len(t.Samples) < 5 {
		t.Samples = append(t.Samples, class+": "+msg)
	}
}

// Classes returns the failure classes, sorted, as "class: n".
func (t *H3Tally) Classes() string {
	var parts []string
	for k, v := range t.ByClass {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// HeldH3 sends GET url one request after another over one quic-go HTTP/3
// connection, kept open, until ctx ends: after a GOAWAY quic-go's client
// opens a new connection for the next request. It never retries a
// request (a request that fails counts, and the next one is sent); each
// has timeout.
func HeldH3(ctx context.Context, url string, cfg *tls.Config, timeout time.Duration, t *H3Tally) {
	tr := &http3.Transport{TLSClientConfig: cfg, QUICConfig: &quic.Config{}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: timeout}
	for ctx.Err() == nil {
		class, msg, pid := heldOnce(ctx, c, url)
		if class == "canceled" && ctx.Err() != nil {
			return // the run ended with this request: not counted
		}
		t.Add(class, msg, pid)
	}
}

func heldOnce(ctx context.Context, c *http.Client, url string) (class, msg string, pid int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "request", err.Error(), 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return h3ErrClass(ctx, err), err.Error(), 0
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return h3ErrClass(ctx, err), err.Error(), 0
	case resp.StatusCode/100 != 2:
		return fmt.Sprintf("status %d", resp.StatusCode), strings.TrimSpace(string(body)), 0
	}
	return "", "", loadgen.ParsePID(body)
}

// h3ErrClass names the kind of a quic-go client error.
func h3ErrClass(ctx context.Context, err error) string {
	s := err.Error()
	switch {
	case ctx.Err() != nil:
		return "canceled"
	case strings.Contains(s, "Timeout exceeded") || strings.Contains(s, "timeout"):
		return "timeout"
	case strings.Contains(s, "stateless reset"):
		return "stateless reset"
	case strings.Contains(s, "H3_REQUEST_REJECTED"):
		return "request rejected"
	default:
		return "error"
	}
}
