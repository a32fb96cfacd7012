package scenario

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
	// Errors counts socket errors and non-2xx answers wrk reported.
	Errors int
}

var (
	rpsLine    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	non2xxLine = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	sockLine   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Wrk runs wrk against http://addr/ with keep-alive connections.
func Wrk(ctx context.Context, addr string, o WrkOptions) (WrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Conns),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), "http://"+addr+"/")
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
	if m := non2xxLine.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Errors += n
	}
	if m := sockLine.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.Errors += n
		}
	}
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
