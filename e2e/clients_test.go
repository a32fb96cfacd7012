//go:build linux

package e2e

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/testcert"
)

// restartPause is the pause between the end of one restart (the new
// process serves, the old one has exited) and the next signal.
const restartPause = 200 * time.Millisecond

// TestCurlAndH2loadAcrossRestarts runs clients that never retry against
// the HTTPS server of examples/reload while it restarts restartsPerRun times, in both
// process modes: curl --http2 with a new connection (a new curl process)
// per request, curl --http1.1 POSTs with a 1 KiB body (the answer must
// say it read it all), and h2load (4 connections, 4 streams each). Every
// curl request must succeed.
//
// h2load counts as "failed" requests it never sent: it opens no new
// connection after a GOAWAY, and nghttp2 cancels (as refused) the streams
// it had queued but not yet written when the drain notice arrives. So the
// servers run with GODEBUG=http2debug=2, and the test checks with their
// frame log that every HTTP/2 request a server read was answered and that
// the requests read are exactly those curl and h2load saw succeed: a
// request that reached a server and was not answered is a failure.
func TestCurlAndH2loadAcrossRestarts(t *testing.T) {
	curl := needTool(t, "curl")
	h2load := needTool(t, "h2load")
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cert := testcert.Write(t, dir)
			httpsPort := freePort(t)
			yaml := fmt.Sprintf(`server:
  httpsAddress: "127.0.0.1:%d"
  certFile: %q
  keyFile: %q
process:
  mode: %s
  readinessPath: /ready
  upgradeTimeout: 1m
  probation: 1s                # the old generation exits 1s after each handover
log:
  level: warn
`, httpsPort, cert.CertFile, cert.KeyFile, mode)
			s := startSubject(t, subjectOptions{
				name:       "reload-" + mode,
				addr:       "127.0.0.1:" + strconv.Itoa(freePort(t)),
				yaml:       yaml,
				supervisor: mode == "supervisor",
				// x/net/http2 logs every frame: the test counts the
				// requests the servers read and answered.
				env: []string{"GODEBUG=http2debug=2"},
			})
			base := "https://127.0.0.1:" + strconv.Itoa(httpsPort) + "/"
			if pid := tlsGet(t, cert, base); pid == 0 {
				t.Fatalf("HTTPS does not answer\n%s", s.g.Logs())
			}

			var get, post, h2 tally
			var h2runs, h2unsent int
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var once sync.Once
			stopClients := func() { once.Do(func() { close(stop) }); wg.Wait() }
			t.Cleanup(stopClients) // when the test fails before the end
			for range 2 {
				wg.Go(func() {
					for !stopped(stop) {
						curlGet(curl, cert.CertFile, base, &get)
					}
				})
			}
			wg.Go(func() {
				for !stopped(stop) {
					curlPost(curl, cert.CertFile, base, &post)
				}
			})
			wg.Go(func() {
				for !stopped(stop) {
					h2loadRun(h2load, base, &h2, &h2unsent)
					h2runs++
				}
			})

			began := time.Now()
			s.restarts(restartsPerRun, restartPause)
			stopClients()
			took := time.Since(began)

			if n := s.distinctPIDs(); n < restartsPerRun+1 {
				t.Errorf("%d distinct serving processes seen, want at least %d", n, restartsPerRun+1)
			}
			for _, c := range []struct {
				name string
				t    *tally
			}{{"curl --http2 GET", &get}, {"curl --http1.1 POST", &post}} {
				req, failed, pids, samples := c.t.counts()
				t.Logf("%s %s: %d requests, %d failed, %d restarts, %d serving pids seen by curl, %s",
					c.name, mode, req, failed, restartsPerRun, pids, took.Round(time.Millisecond))
				if req == 0 {
					t.Errorf("%s made no request", c.name)
				}
				if failed > 0 {
					t.Errorf("%s: %d of %d requests failed; first failures:\n%s", c.name, failed, req, strings.Join(samples, "\n"))
				}
			}
			if h2runs == 0 {
				t.Error("h2load never ran")
			}
			s.stop()

			// Every HTTP/2 request a server read was answered, and every
			// request h2load started but did not see succeed never reached
			// a server: nghttp2 cancels the streams it had queued but not
			// yet written when the drain notice (GOAWAY) arrives, and h2load
			// counts them as failed (it never retries, nor reconnects).
			f := countFrames(s.g.Output())
			getOK, _, _, _ := get.counts()
			h2Started, h2Cancelled, _, samples := h2.counts()
			h2Answered := h2Started - h2Cancelled
			lost := f.reads - getOK - h2Answered
			t.Logf("h2load %s: %d requests started, %d answered, %d lost, %d restarts (h2load also counts as failed %d streams it cancelled before sending them, after a GOAWAY, and %d requests it never started; %d runs)",
				mode, h2Started, h2Answered, lost, restartsPerRun, h2Cancelled, h2unsent, h2runs)
			t.Logf("servers (HTTP/2 frame log): %d requests read, %d answered, %d RST_STREAM written", f.reads, f.answered, f.resets)
			if h2Answered == 0 {
				t.Error("h2load got no answer")
			}
			if h2Cancelled > 0 {
				t.Logf("h2load runs that counted failures:\n%s", strings.Join(samples, "\n"))
			}
			if f.answered != f.reads || f.resets != 0 {
				t.Errorf("the servers read %d HTTP/2 requests, answered %d, reset %d streams", f.reads, f.answered, f.resets)
			}
			if lost != 0 {
				t.Errorf("the servers read %d HTTP/2 requests; curl got %d answers and h2load %d: %d requests read but not answered to the client",
					f.reads, getOK, h2Answered, lost)
			}
		})
	}
}

// frameCounts is what the servers' HTTP/2 frame log (GODEBUG=http2debug=2)
// says about requests.
type frameCounts struct{ reads, answered, resets int }

func countFrames(output string) frameCounts {
	var f frameCounts
	for line := range strings.SplitSeq(output, "\n") {
		if !strings.Contains(line, "http2: Framer ") {
			continue
		}
		switch {
		case strings.Contains(line, ": read HEADERS "):
			f.reads++
		case strings.Contains(line, ": wrote RST_STREAM "):
			f.resets++
		case strings.Contains(line, ": wrote ") && strings.Contains(line, "END_STREAM"):
			f.answered++
		}
	}
	return f
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// tlsGet asks the HTTPS server which process serves.
func tlsGet(t *testing.T, cert testcert.Pair, url string) int {
	t.Helper()
	resp, err := tlsClient(cert.Pool).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return parsePID(string(b))
}

// curlWrite makes curl print the body, then the status and the HTTP
// version on a line of their own.
const curlWrite = "\n%{http_code} %{http_version}"

// curlGet runs one curl process: one connection, one HTTP/2 GET.
func curlGet(curl, caFile, url string, c *tally) {
	out, err := exec.Command(curl, "-sS", "--http2", "--cacert", caFile, "--max-time", "60",
		"-o", "-", "-w", curlWrite, url).CombinedOutput()
	checkCurl(c, "GET", out, err, "2", "")
}

// postBody is what the POSTs send; the server answers read=<its length>.
var postBody = strings.Repeat("gracekit", 128)

// curlPost runs one curl process: one connection, one HTTP/1.1 POST with
// a 1 KiB body.
func curlPost(curl, caFile, url string, c *tally) {
	out, err := exec.Command(curl, "-sS", "--http1.1", "--cacert", caFile, "--max-time", "60",
		"-H", "Content-Type: text/plain", "--data-binary", postBody,
		"-o", "-", "-w", curlWrite, url).CombinedOutput()
	checkCurl(c, "POST", out, err, "1.1", fmt.Sprintf(" read=%d", len(postBody)))
}

func checkCurl(c *tally, what string, out []byte, err error, wantVersion, wantBody string) {
	s := string(out)
	if err != nil {
		c.fail("%s: curl: %v: %q", what, err, s)
		return
	}
	body, status, _ := strings.Cut(s, "\n\n") // the body ends with "\n", curlWrite starts with one
	f := strings.Fields(status)
	pid := parsePID(body)
	if len(f) != 2 || f[0] != "200" || f[1] != wantVersion || pid == 0 || !strings.Contains(body, wantBody) {
		c.fail("%s: unexpected answer %q", what, s)
		return
	}
	c.ok(pid)
}

var h2loadRequests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
var h2loadStatus = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)

// h2loadRun runs h2load once: 4 connections with 4 concurrent streams
// each, 400 requests. h2load never opens a new connection for HTTP/2:
// once a connection has been told GOAWAY (the old generation's drain
// notice), h2load sends nothing more on it, and when it closes, the
// client's remaining requests are counted "failed" and "errored" without
// ever being sent. Those are counted apart (unsent); a request h2load
// started and that did not succeed is a failure.
func h2loadRun(h2load, url string, c *tally, unsent *int) {
	const n = 400
	out, err := exec.Command(h2load, "-n", strconv.Itoa(n), "-c", "4", "-m", "4", url).CombinedOutput()
	req, status := h2loadRequests.FindStringSubmatch(string(out)), h2loadStatus.FindStringSubmatch(string(out))
	if req == nil || status == nil {
		c.fail("h2load: %v, output:\n%s", err, out)
		return
	}
	atoi := func(s string) int { v, _ := strconv.Atoi(s); return v }
	total, started, succeeded, ok2xx := atoi(req[1]), atoi(req[2]), atoi(req[4]), atoi(status[1])
	c.mu.Lock()
	defer c.mu.Unlock()
	*unsent += total - started
	c.requests += started
	if lost := started - min(succeeded, ok2xx); lost > 0 {
		c.failed += lost
		if len(c.samples) < 10 {
			c.samples = append(c.samples, fmt.Sprintf("h2load: %s; %s", req[0], status[0]))
		}
	}
}
