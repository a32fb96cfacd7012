package extclient

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

// CurlResult counts the requests of a CurlLoop: one curl process, one
// new TLS connection and one HTTP/2 request each.
type CurlResult struct {
	Requests, Failed int
	// ByClass counts the failures: "exit N" for a curl error (7: could
	// not connect, 16: HTTP/2 error, 35: TLS handshake, 52: empty reply,
	// 56: receive failure), "status N" for a non-2xx answer, "not h2"
	// for an answer over another protocol.
	ByClass map[string]int
	// Samples are the first failures, with curl's message.
	Samples []string
}

// Classes returns the failure classes, sorted, as "class: n".
func (r CurlResult) Classes() string {
	var parts []string
	for k, v := range r.ByClass {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// CurlLoop runs workers loops of `curl --http2` against url until ctx
// ends, each request a new process and so a new connection; caFile is
// the certificate curl trusts. curl never retries (no --retry). A request
// still running when ctx ends is waited for and counted.
func CurlLoop(ctx context.Context, url, caFile string, workers int) CurlResult {
	res := CurlResult{ByClass: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				class, msg := curlOnce(url, caFile)
				mu.Lock()
				res.Requests++
				if class != "" {
					res.Failed++
					res.ByClass[class]++
					if len(res.Samples) < 5 {
						res.Samples = append(res.Samples, class+": "+msg)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

// curlOnce sends one request and returns its failure class ("" for a 2xx
// over h2) and curl's message.
func curlOnce(url, caFile string) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "--http2", "--cacert", caFile, "-sS", "-o", "/dev/null",
		"--max-time", "10", "-w", "%{http_code} %{http_version}", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.ExitCode()), strings.TrimSpace(stderr.String())
	case err != nil:
		return "exec", err.Error()
	}
	code, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	switch {
	case !strings.HasPrefix(code, "2"):
		return "status " + code, string(out)
	case version != "2":
		return "not h2", string(out)
	}
	return "", ""
}
