//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

// reloadBin is examples/reload, built once by TestMain.
var reloadBin string

// TestMain builds examples/reload once (with -race when the tests run
// with it) and makes the test process a child
// subreaper: an old generation that hands over exits, and its successor,
// orphaned, is re-parented to the test, whose process-group reapers
// collect every member (see proctest.Group).
func TestMain(m *testing.M) {
	proctest.BecomeSubreaper()
	dir, err := os.MkdirTemp("", "gracekit-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reloadBin = filepath.Join(dir, "reload")
	args := []string{"build", "-o", reloadBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "../examples/reload")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build ../examples/reload: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool returns the path of a command the test needs. When it is
// missing the test skips, naming the tool, or fails when
// GRACEKIT_REQUIRE_TOOLS=1 (as in CI).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("GRACEKIT_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (GRACEKIT_REQUIRE_TOOLS=1) but missing: %v", name, err)
	}
	t.Skipf("skipped: %s is not installed (%v); install it, or set GRACEKIT_REQUIRE_TOOLS=1 to make this a failure", name, err)
	return ""
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds. The timeout only stops a test that
// would hang: it is far above what any condition takes, even under load.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startGroup starts argv as the leader of a new process group (see
// proctest.Group) with the test's environment less its GRACEKIT_
// variables, plus env. The output of every member goes to a log file: in
// GRACEKIT_E2E_LOGDIR when set (kept after the test), in a temporary
// directory otherwise (the test prints it when it fails).
func startGroup(t *testing.T, name string, argv []string, env ...string) *proctest.Group {
	t.Helper()
	logDir := os.Getenv("GRACEKIT_E2E_LOGDIR")
	if logDir == "" {
		logDir = t.TempDir()
	}
	return proctest.Start(t, proctest.Options{Name: name, Argv: argv, Env: append(subjectEnv(), env...), LogDir: logDir})
}

// subjectEnv is the test's environment without any GRACEKIT_ variable:
// gracekit reads every one as a setting and refuses unknown ones (such as
// GRACEKIT_REQUIRE_TOOLS, or CI's own), and the tests' configuration
// files say all a service needs.
func subjectEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRACEKIT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// subject is one examples/reload service: the binary run with -config,
// -addr and -pidfile in a process group of its own.
type subject struct {
	t          *testing.T
	g          *proctest.Group
	pidFile    string
	conf       string // the configuration file, which a test may rewrite
	supervisor bool
	probe      *http.Client // a new connection per request
	probeURL   string

	mu   sync.Mutex
	seen map[int]bool // serving PIDs the probe has seen
	cur  int          // the serving PID now
}

// subjectOptions describe a service to start.
type subjectOptions struct {
	name string
	// addr is -addr: "127.0.0.1:port" or "unix:/path".
	addr string
	// yaml is the configuration file's content.
	yaml       string
	supervisor bool
	env        []string // added to the environment
	// bin is the binary to run: examples/reload as TestMain built it
	// when empty.
	bin string
}

// startSubject writes the configuration, starts the service and waits
// until it answers 200.
func startSubject(t *testing.T, o subjectOptions) *subject {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, o.name+".yaml")
	writeFile(t, conf, o.yaml)
	s := &subject{
		t:          t,
		pidFile:    filepath.Join(dir, o.name+".pid"),
		conf:       conf,
		supervisor: o.supervisor,
		seen:       map[int]bool{},
	}
	tr := &http.Transport{DisableKeepAlives: true}
	s.probeURL = "http://" + o.addr + "/"
	if sock, ok := strings.CutPrefix(o.addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		s.probeURL = "http://unix/"
	}
	s.probe = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	bin := o.bin
	if bin == "" {
		bin = reloadBin
	}
	s.g = startGroup(t, o.name, []string{bin, "-config", conf, "-addr", o.addr, "-pidfile", s.pidFile}, o.env...)
	pid := s.waitServing(0)
	s.mu.Lock()
	s.cur = pid
	s.seen[pid] = true
	s.mu.Unlock()
	return s
}

// bodyPID asks the service which process serves, on a new connection; 0
// when the request fails.
func (s *subject) bodyPID() int {
	resp, err := s.probe.Get(s.probeURL)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0
	}
	return parsePID(string(b))
}

// parsePID reads "pid=N ..." from a response body; 0 if there is none.
func parsePID(body string) int {
	rest, ok := strings.CutPrefix(body, "pid=")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	pid, _ := strconv.Atoi(rest[:end])
	return pid
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid
}

// waitServing waits until a process other than not answers: in reexec
// mode, the one the PID file names; in supervisor mode, a new worker
// (the PID file keeps naming the supervisor).
func (s *subject) waitServing(not int) int {
	s.t.Helper()
	var pid int
	waitFor(s.t, fmt.Sprintf("a process other than %d to serve", not), 60*time.Second, func() bool {
		// The first process exits after handing over in reexec mode,
		// never before it has served, nor a supervisor.
		if (not == 0 || s.supervisor) && s.g.Exited() {
			s.t.Fatalf("%s exited: %s\n%s", s.g.Name(), s.g.WaitFirst(time.Second), s.g.Logs())
		}
		filePID := readPID(s.pidFile)
		if filePID == 0 {
			return false
		}
		pid = s.bodyPID()
		if pid == 0 || pid == not {
			return false
		}
		if s.supervisor {
			return pid != filePID
		}
		return pid == filePID
	}, s.g.Logs)
	return pid
}

// restart sends SIGHUP to the PID in the PID file and waits until a new
// process answers and the one it replaces has exited (so that the
// restart is over and the next signal starts a new one).
func (s *subject) restart() int {
	s.t.Helper()
	s.mu.Lock()
	old := s.cur
	s.mu.Unlock()
	target := readPID(s.pidFile)
	if !s.g.Signal(target, syscall.SIGHUP) {
		s.t.Fatalf("the process in the PID file (%d) is not running\n%s", target, s.g.Logs())
	}
	pid := s.waitServing(old)
	waitFor(s.t, fmt.Sprintf("the old process %d to exit", old), 60*time.Second, func() bool { return !s.g.Alive(old) }, s.g.Logs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[pid] {
		s.t.Fatalf("restart: pid %d served before", pid)
	}
	s.seen[pid] = true
	s.cur = pid
	return pid
}

// restarts restarts the service n times, pausing between one restart's
// end and the next signal (a pace, never a verdict).
func (s *subject) restarts(n int, pause time.Duration) {
	s.t.Helper()
	for range n {
		time.Sleep(pause)
		s.restart()
	}
}

// stop sends SIGTERM to the PID in the PID file, waits for it to exit
// (with status 0 when the test started it: the supervisor, or the first
// generation), and then for every process of the service to be gone: a
// generation or worker left running, or a zombie its parent does not
// reap, fails the test.
func (s *subject) stop() {
	s.t.Helper()
	pid := readPID(s.pidFile)
	s.g.Signal(pid, syscall.SIGTERM)
	if pid == s.g.PGID {
		if st := s.g.WaitFirst(60 * time.Second); st != "exit status 0" {
			s.t.Errorf("%s: %s after SIGTERM, want exit status 0\n%s", s.g.Name(), st, s.g.Logs())
		}
	}
	s.checkGone()
}

// checkGone waits until no process of the service is left and checks
// that the PID file was removed.
func (s *subject) checkGone() {
	s.t.Helper()
	s.g.CheckEmpty(60 * time.Second)
	if _, err := os.Stat(s.pidFile); !os.IsNotExist(err) {
		s.t.Errorf("%s: PID file left after the final stop (%v)", s.g.Name(), err)
	}
}

// distinctPIDs is the number of serving processes the probe has seen.
func (s *subject) distinctPIDs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// tlsClient trusts the certificate in pool and never keeps a connection.
func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
		Timeout:   30 * time.Second,
	}
}

// tally counts the requests of a client and keeps the first failures.
type tally struct {
	mu       sync.Mutex
	requests int
	failed   int
	samples  []string
	pids     map[int]bool
}

func (c *tally) ok(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if c.pids == nil {
		c.pids = map[int]bool{}
	}
	c.pids[pid] = true
}

func (c *tally) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.failed++
	if len(c.samples) < 10 {
		c.samples = append(c.samples, fmt.Sprintf(format, args...))
	}
}

func (c *tally) counts() (requests, failed, pids int, samples []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.failed, len(c.pids), append([]string(nil), c.samples...)
}
