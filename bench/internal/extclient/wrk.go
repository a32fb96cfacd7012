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

// WrkOptions tune a wrk run.
type WrkOptions struct {
	Threads, Conns int
	Duration       time.Duration
}

// WrkResult is what one wrk run measured.
type WrkResult struct {
	RPS float64
	// Requests is wrk's count of completed requests.
	Requests int
	// Non2xx counts answers outside 2xx and 3xx.
	Non2xx int
	// Connect, Read, Write and Timeout are wrk's socket errors.
	Connect, Read, Write, Timeout int
	// Errors is Non2xx plus all socket errors.
	Errors int
}

// SocketErrors is the sum of the socket errors.
func (r WrkResult) SocketErrors() int { return r.Connect + r.Read + r.Write + r.Timeout }

var (
	rpsLine    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqLine    = regexp.MustCompile(`(\d+) requests in `)
	non2xxLine = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	sockLine   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Wrk runs wrk against url (keep-alive GET).
func Wrk(ctx context.Context, url string, o WrkOptions) (WrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Conns),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (WrkResult, error) {
	var r WrkResult
	m := rpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in %q", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reqLine.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	if m := non2xxLine.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := sockLine.FindStringSubmatch(out); m != nil {
		r.Connect, _ = strconv.Atoi(m[1])
		r.Read, _ = strconv.Atoi(m[2])
		r.Write, _ = strconv.Atoi(m[3])
		r.Timeout, _ = strconv.Atoi(m[4])
	}
	r.Errors = r.Non2xx + r.SocketErrors()
	return r, nil
}

// WrkVersion returns wrk's version line, or why it cannot run.
func WrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "wrk not found (apt-get install wrk)"
	}
	return line
}
