//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

// wrkScript makes wrk check every answer's body (a GET must name the
// serving process, a POST must say it read the whole body) and print how
// many were wrong. With post set, every request is a POST of postBody.
func wrkScript(t *testing.T, dir string, post bool) string {
	t.Helper()
	var b strings.Builder
	want := "pid="
	if post {
		want = fmt.Sprintf("read=%d", len(postBody))
		fmt.Fprintf(&b, "wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n", postBody)
	}
	fmt.Fprintf(&b, `local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, %q, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("e2e wrong answers: %%d\n", n))
end
`, want)
	name := "get.lua"
	if post {
		name = "post.lua"
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, b.String())
	return path
}

// wrkRun is a wrk process that runs until stopped, in a process group of
// its own (see startGroup).
type wrkRun struct {
	name string
	g    *proctest.Group
}

// startWrk starts wrk against url with 2 threads and 8 keep-alive
// connections. Its duration is only an upper bound: stop ends it with
// SIGINT, after which wrk prints its figures. Its timeout is far above
// any answer's time, so that a slow machine is never counted as errors.
func startWrk(t *testing.T, wrk, name, url, script string) *wrkRun {
	t.Helper()
	g := startGroup(t, "wrk-"+name, []string{wrk, "-t", "2", "-c", "8", "-d", "600s", "--timeout", "30s", "-s", script, url})
	return &wrkRun{name: name, g: g}
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkWrong    = regexp.MustCompile(`e2e wrong answers: (\d+)`)
)

// wrkResult is what a wrk run reported.
type wrkResult struct {
	requests, wrong int
	output          string
}

// stop ends wrk with SIGINT and checks its report: no socket errors, no
// answer that is not 2xx or 3xx, no wrong body. It returns the figures.
func (w *wrkRun) stop(t *testing.T) wrkResult {
	t.Helper()
	w.g.Signal(w.g.PGID, syscall.SIGINT)
	w.g.WaitFirst(60 * time.Second) // wrk's figures tell how it went
	r := wrkResult{output: w.g.Output()}
	m := wrkRequests.FindStringSubmatch(r.output)
	mw := wrkWrong.FindStringSubmatch(r.output)
	if m == nil || mw == nil {
		t.Errorf("wrk %s: no figures in its output:\n%s", w.name, r.output)
		return r
	}
	r.requests, _ = strconv.Atoi(m[1])
	r.wrong, _ = strconv.Atoi(mw[1])
	if r.requests == 0 {
		t.Errorf("wrk %s made no request:\n%s", w.name, r.output)
	}
	for _, bad := range []string{"Non-2xx or 3xx responses", "Socket errors"} {
		if strings.Contains(r.output, bad) {
			t.Errorf("wrk %s reports %q:\n%s", w.name, bad, r.output)
		}
	}
	if r.wrong != 0 {
		t.Errorf("wrk %s: %d answers were not 200 with the expected body:\n%s", w.name, r.wrong, r.output)
	}
	return r
}

// socketDir makes a directory for unix sockets that other users (a
// proxy's unprivileged workers) may traverse: t.TempDir is private to the
// test's user.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gracekit-e2e-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}
