package extclient

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// H2Options tune an h2load run.
type H2Options struct {
	// Clients is h2load's -c (connections), Streams its -m (concurrent
	// streams per connection).
	Clients, Streams int
	Duration         time.Duration
}

// H2Result is what one h2load run reported.
type H2Result struct {
	// Total, Succeeded, Failed, Errored and Timeout are h2load's request
	// counts ("requests: N total, ... N succeeded, N failed, N errored,
	// N timeout"). Failed includes errored and non-2xx answers.
	Total, Succeeded, Failed, Errored, Timeout int
	// Status2xx and the others are its status code counts.
	Status2xx, Status3xx, Status4xx, Status5xx int
	// NotSubmitted counts h2load's "Process Request Failure" lines, which
	// it prints when it cannot submit a request on a connection (after a
	// GOAWAY nghttp2 refuses new streams); at most one per connection and
	// run was seen, so it is a count of events, not of requests.
	NotSubmitted int
	// Protocol is the application protocol h2load negotiated ("h2").
	Protocol string
	RPS      float64
	// Runs is how many h2load runs were added up.
	Runs int
}

// Add adds the counts of b to r.
func (r *H2Result) Add(b H2Result) {
	r.Total += b.Total
	r.Succeeded += b.Succeeded
	r.Failed += b.Failed
	r.Errored += b.Errored
	r.Timeout += b.Timeout
	r.Status2xx += b.Status2xx
	r.Status3xx += b.Status3xx
	r.Status4xx += b.Status4xx
	r.Status5xx += b.Status5xx
	r.NotSubmitted += b.NotSubmitted
	if r.Protocol == "" {
		r.Protocol = b.Protocol
	} else if b.Protocol != "" && b.Protocol != r.Protocol {
		r.Protocol += "," + b.Protocol
	}
	r.Runs += b.Runs
}

var (
	h2Requests = regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2Proto    = regexp.MustCompile(`Application protocol: (\S+)`)
	h2RPS      = regexp.MustCompile(`finished in [0-9.]+\w*, ([0-9.]+) req/s`)
)

// H2load runs h2load in timing-based mode against url (an https URL) and
// parses its summary. h2load does not verify the server's certificate.
func H2load(ctx context.Context, url string, o H2Options) (H2Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "h2load", "-c", strconv.Itoa(o.Clients), "-m", strconv.Itoa(o.Streams),
		"-D", fmt.Sprintf("%dms", o.Duration.Milliseconds()), url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return H2Result{}, fmt.Errorf("h2load: %w: %s", err, tail(string(out), 5))
	}
	return parseH2load(string(out))
}

func parseH2load(out string) (H2Result, error) {
	var r H2Result
	m := h2Requests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("h2load: no request summary in %q", tail(out, 5))
	}
	n := atoi(m[1:])
	r.Total, r.Succeeded, r.Failed, r.Errored, r.Timeout = n[0], n[1], n[2], n[3], n[4]
	if m := h2Status.FindStringSubmatch(out); m != nil {
		n := atoi(m[1:])
		r.Status2xx, r.Status3xx, r.Status4xx, r.Status5xx = n[0], n[1], n[2], n[3]
	}
	if m := h2Proto.FindStringSubmatch(out); m != nil {
		r.Protocol = m[1]
	}
	if m := h2RPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	r.NotSubmitted = strings.Count(out, "Process Request Failure")
	r.Runs = 1
	return r, nil
}

func atoi(ss []string) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
