//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// reloadBin is examples/reload, built once by TestMain.
var reloadBin string

// TestMain builds examples/reload once (with -race when the tests run
// with it) and makes the test process a child
// subreaper: an old generation that hands over exits, and its successor,
// orphaned, is re-parented to the test, whose process-group reapers
// collect every member (see procGroup).
func TestMain(m *testing.M) {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
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

// procGroup is a process the test starts as the leader of a process group
// of its own, with every process it starts in turn (generations, workers).
// Its reaper waits only for members of the group (wait4 with -pgid), so it
// never takes the status of a process exec.Cmd waits for, and the
// cleanup kills the whole group and reaps it until no member is left.
type procGroup struct {
	t    *testing.T
	name string
	pgid int
	log  string // standard output and error of every member

	first chan string // the first process's exit status, once
	stop  chan struct{}
	done  chan struct{}
}

// startGroup starts argv as the leader of a new process group, with its
// output in a log file (a file, not a pipe: a pipe inherited by every
// generation would stay open as long as the last one).
func startGroup(t *testing.T, name string, argv []string, env ...string) *procGroup {
	t.Helper()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	// GRACEKIT_E2E_LOGDIR keeps the logs (they go to a temporary directory
	// otherwise, and the test prints them when it fails).
	logDir := os.Getenv("GRACEKIT_E2E_LOGDIR")
	if logDir == "" {
		logDir = t.TempDir()
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Env:   append(subjectEnv(), env...),
		Files: []*os.File{devnull, logf, logf},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	g := &procGroup{
		t:     t,
		name:  name,
		pgid:  p.Pid,
		log:   logPath,
		first: make(chan string, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	_ = p.Release() // the group's reaper waits for it
	go g.reapLoop()
	t.Cleanup(g.cleanup)
	return g
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

// logs returns the output of the group so far.
func (g *procGroup) logs() string {
	b, _ := os.ReadFile(g.log)
	return fmt.Sprintf("--- output of %s (process group %d):\n%s", g.name, g.pgid, b)
}

func (g *procGroup) reapLoop() {
	defer close(g.done)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		g.reapNow()
		select {
		case <-sigs:
		case <-tick.C:
		case <-g.stop:
			g.reapNow()
			return
		}
	}
}

func (g *procGroup) reapNow() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-g.pgid, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if pid == g.pgid {
			s := "exit status " + strconv.Itoa(ws.ExitStatus())
			if ws.Signaled() {
				s = "signal: " + ws.Signal().String()
			}
			g.first <- s
		}
	}
}

// waitFirst waits for the group's first process to exit and returns its
// status ("exit status 0", "signal: killed").
func (g *procGroup) waitFirst(timeout time.Duration) string {
	g.t.Helper()
	select {
	case s := <-g.first:
		g.first <- s
		return s
	case <-time.After(timeout):
		g.t.Fatalf("%s (pid %d) did not exit within %s\n%s", g.name, g.pgid, timeout, g.logs())
		return ""
	}
}

// exited reports whether the first process has exited (and was reaped).
func (g *procGroup) exited() bool {
	select {
	case s := <-g.first:
		g.first <- s
		return true
	default:
		return false
	}
}

// alive reports whether pid runs as a member of the group: a zombie does
// not count (kill(pid, 0) would succeed on it).
func (g *procGroup) alive(pid int) bool {
	st, ok := readProcStat(pid)
	return ok && st.pgrp == g.pgid && st.state != "Z"
}

// signal sends sig to a running member; it reports false when the member
// has already exited.
func (g *procGroup) signal(pid int, sig syscall.Signal) bool {
	g.t.Helper()
	if !g.alive(pid) {
		return false
	}
	err := unix.Kill(pid, sig)
	if errors.Is(err, unix.ESRCH) {
		return false
	}
	if err != nil {
		g.t.Fatalf("signal %v to %d: %v", sig, pid, err)
	}
	return true
}

// members lists the processes of the group that still exist, zombies
// included.
func (g *procGroup) members() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProcStat(pid); ok && st.pgrp == g.pgid {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

func (g *procGroup) cleanup() {
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = unix.Kill(-g.pgid, unix.SIGKILL)
		g.reapNow()
		if len(g.members()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			g.t.Errorf("process group %d (%s) still has members after SIGKILL: %v", g.pgid, g.name, g.members())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.stop)
	<-g.done
	if g.t.Failed() {
		g.t.Log(g.logs())
	}
}

type procStat struct {
	state      string
	ppid, pgrp int
}

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{state: f[0], ppid: ppid, pgrp: pgrp}, true
}

// subject is one examples/reload service: the binary run with -config,
// -addr and -pidfile in a process group of its own.
type subject struct {
	t          *testing.T
	g          *procGroup
	pidFile    string
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
	s.g = startGroup(t, o.name, []string{reloadBin, "-config", conf, "-addr", o.addr, "-pidfile", s.pidFile}, o.env...)
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
		if (not == 0 || s.supervisor) && s.g.exited() {
			s.t.Fatalf("%s exited: %s\n%s", s.g.name, s.g.waitFirst(time.Second), s.g.logs())
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
	}, s.g.logs)
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
	if !s.g.signal(target, syscall.SIGHUP) {
		s.t.Fatalf("the process in the PID file (%d) is not running\n%s", target, s.g.logs())
	}
	pid := s.waitServing(old)
	waitFor(s.t, fmt.Sprintf("the old process %d to exit", old), 60*time.Second, func() bool { return !s.g.alive(old) }, s.g.logs)
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
	s.g.signal(pid, syscall.SIGTERM)
	if pid == s.g.pgid {
		if st := s.g.waitFirst(60 * time.Second); st != "exit status 0" {
			s.t.Errorf("%s: %s after SIGTERM, want exit status 0\n%s", s.g.name, st, s.g.logs())
		}
	}
	s.checkGone()
}

// checkGone waits until no process of the service is left and checks
// that the PID file was removed.
func (s *subject) checkGone() {
	s.t.Helper()
	waitFor(s.t, "every process of the service to exit", 60*time.Second, func() bool {
		s.g.reapNow()
		return len(s.g.members()) == 0
	}, func() string { return fmt.Sprintf("left: %v\n%s", s.g.members(), s.g.logs()) })
	if _, err := os.Stat(s.pidFile); !os.IsNotExist(err) {
		s.t.Errorf("%s: PID file left after the final stop (%v)", s.g.name, err)
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
