//go:build linux

// Package systemd_test runs the unit files of this directory under a real
// systemd (257, Debian trixie) booted in systemd-nspawn, with a static
// build of examples/reload, and checks what the README promises: start
// returns once the server is ready, reloads lose no request and systemd
// follows the new main process, systemctl status shows the server's
// status line, and systemctl stop lets every generation drain, even one
// that is still draining after a reload.
//
// The tests skip when the machine cannot boot a container (not root, no
// systemd-nspawn or debootstrap, the boot fails), unless
// GRACEKIT_REQUIRE_NSPAWN=1, when they fail. The first run builds the root
// file system (about a minute; see internal/nspawn).
package systemd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/nspawn"
)

var require = os.Getenv("GRACEKIT_REQUIRE_NSPAWN") == "1"

// unavailable skips the test, or fails it under GRACEKIT_REQUIRE_NSPAWN=1.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if require {
		t.Fatalf("%s (GRACEKIT_REQUIRE_NSPAWN=1)", msg)
	}
	t.Skipf("skipping: %s (set GRACEKIT_REQUIRE_NSPAWN=1 to fail instead)", msg)
}

var (
	prepOnce sync.Once
	prepDir  string // the binary, shared by every test of this run
	prepBin  string
	prepFS   string
	prepErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if prepDir != "" {
		_ = os.RemoveAll(prepDir)
	}
	os.Exit(code)
}

// prepare builds examples/reload and finds or builds the root file system,
// once per test binary.
func prepare(t *testing.T) (bin, rootfs string) {
	t.Helper()
	if why := nspawn.Unavailable(); why != "" {
		unavailable(t, "%s", why)
	}
	prepOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if prepDir, prepErr = os.MkdirTemp("", "gracekit-systemd-test-"); prepErr != nil {
			return
		}
		if prepBin, prepErr = nspawn.BuildStatic(ctx, "github.com/gracekit/gracekit/examples/reload", prepDir); prepErr != nil {
			return
		}
		begin := time.Now()
		prepFS, prepErr = nspawn.Rootfs(ctx, t.Logf)
		t.Logf("root file system %s ready after %s", prepFS, time.Since(begin).Round(time.Millisecond))
	})
	if prepErr != nil {
		unavailable(t, "cannot prepare the container: %v", prepErr)
	}
	return prepBin, prepFS
}

// machine is a booted container with this directory's units installed,
// their address changed to a free port of the host's loopback.
type machine struct {
	*nspawn.Machine
	t    *testing.T
	addr string
}

func boot(t *testing.T, units ...string) *machine {
	t.Helper()
	bin, rootfs := prepare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	m, err := nspawn.Boot(ctx, nspawn.Options{Rootfs: rootfs, BindRO: []string{bin + ":/usr/local/bin/reload"}})
	if err != nil {
		unavailable(t, "the container did not boot: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("booted in %s", time.Since(begin).Round(time.Millisecond))
	mc := &machine{Machine: m, t: t, addr: freeAddr(t)}
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "127.0.0.1:8080", mc.addr))
		// The old generation waits out a probation of 1s (5s by default)
		// after each reload before it exits: the tests wait for that exit.
		data = []byte(strings.Replace(string(data), "[Service]\n", "[Service]\nEnvironment=GRACEKIT_PROCESS_PROBATION=1s\n", 1))
		if err := m.WriteFile(ctx, "/etc/systemd/system/"+filepath.Base(u), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mc.run("systemctl", "daemon-reload")
	return mc
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run runs a command in the container and fails the test if it fails.
func (m *machine) run(args ...string) string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := m.Run(ctx, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// try runs a command in the container and returns its output and error.
func (m *machine) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return m.Run(ctx, args...)
}

func (m *machine) show(unit, prop string) string {
	m.t.Helper()
	return strings.TrimSpace(m.run("systemctl", "show", "-p", prop, "--value", unit))
}

func (m *machine) mainPID(unit string) int {
	m.t.Helper()
	pid, err := strconv.Atoi(m.show(unit, "MainPID"))
	if err != nil {
		m.t.Fatal(err)
	}
	return pid
}

// journal is the unit's journal since a time (the container shares the
// host's clock).
func (m *machine) journal(unit string, since time.Time) string {
	m.t.Helper()
	args := []string{"journalctl", "-u", unit, "--no-pager", "-o", "short-precise"}
	if !since.IsZero() {
		args = append(args, fmt.Sprintf("--since=@%d.%06d", since.Unix(), since.Nanosecond()/1000))
	}
	return m.run(args...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAccepted waits until a process of the container has accepted a
// connection to the server that pid serves: a request begun just before
// is then in flight in that process (and not in the listen queue, where
// another generation could take it, or a closing listener drop it).
func (m *machine) waitAccepted(t *testing.T, pid int) {
	t.Helper()
	_, port, _ := net.SplitHostPort(m.addr)
	waitFor(t, fmt.Sprintf("pid %d to accept the connection", pid), 5*time.Second, func() bool {
		out, _ := m.try("ss", "-Htnp", "state", "established", "( sport = :"+port+" )")
		return strings.Contains(out, fmt.Sprintf("pid=%d,", pid))
	})
}

// reply is the outcome of one HTTP request.
type reply struct {
	code int
	pid  int
	err  error
}

var pidRe = regexp.MustCompile(`pid=(\d+)`)

// begin sends a GET on a new connection (HTTP/1.1, Connection: close)
// and returns where its reply will arrive. There is no client library in
// between: a request that fails is not retried.
func begin(addr, path string, timeout time.Duration) <-chan reply {
	ch := make(chan reply, 1)
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		ch <- reply{err: err}
		return ch
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gracekit\r\nConnection: close\r\n\r\n", path); err != nil {
		c.Close()
		ch <- reply{err: err}
		return ch
	}
	go func() {
		defer c.Close()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			ch <- reply{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		r := reply{code: resp.StatusCode, err: err}
		if m := pidRe.FindSubmatch(body); m != nil {
			r.pid, _ = strconv.Atoi(string(m[1]))
		}
		ch <- r
	}()
	return ch
}

func get(addr string) reply { return <-begin(addr, "/", 5*time.Second) }

// load sends requests from several clients until stopped, each on a new
// connection, and counts them.
type load struct {
	total, failed atomic.Int64
	refused       atomic.Int64 // failed connects: ECONNREFUSED
	mu            sync.Mutex
	errs          []string
	stop          chan struct{}
	wg            sync.WaitGroup
}

func startLoad(addr string, clients int) *load {
	l := &load{stop: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r := get(addr)
				l.total.Add(1)
				if r.err != nil || r.code != http.StatusOK {
					l.failed.Add(1)
					if errors.Is(r.err, syscall.ECONNREFUSED) {
						l.refused.Add(1)
					}
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, fmt.Sprintf("code %d, error %v", r.code, r.err))
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *load) end() { close(l.stop); l.wg.Wait() }

// unitCase is one way of running the service.
type unitCase struct {
	name    string
	files   []string
	service string
	socket  string // the socket unit, for socket activation
}

var cases = []unitCase{
	{name: "reload.service", files: []string{"reload.service"}, service: "reload.service"},
	{name: "reload-legacy.service", files: []string{"reload-legacy.service"}, service: "reload-legacy.service"},
	{name: "reload-activated", files: []string{"reload-activated.socket", "reload-activated.service"},
		service: "reload-activated.service", socket: "reload-activated.socket"},
}

func TestUnits(t *testing.T) {
	for _, uc := range cases {
		t.Run(uc.name, func(t *testing.T) {
			m := boot(t, uc.files...)
			t.Run("start", func(t *testing.T) { testStart(t, m, uc) })
			t.Run("reloads", func(t *testing.T) { testReloads(t, m, uc, 20) })
			t.Run("status", func(t *testing.T) { testStatus(t, m, uc, 21) })
			t.Run("stop-while-draining", func(t *testing.T) { testStopWhileDraining(t, m, uc, "3s", "3s") })
			// The newest generation is done first: it must not exit before
			// the older one (systemd would not get its exit status).
			m.run("systemctl", "start", uc.service)
			t.Run("stop-while-draining-old-slower", func(t *testing.T) { testStopWhileDraining(t, m, uc, "4s", "500ms") })
			m.run("systemctl", "start", uc.service)
			t.Run("stop-after-reload", func(t *testing.T) { testStopAfterReload(t, m, uc) })
		})
	}
}

// testStart: systemctl start returns once the server is ready, so a
// request right after it succeeds, answered by the main process.
func testStart(t *testing.T, m *machine, uc unitCase) {
	if uc.socket != "" {
		m.run("systemctl", "start", uc.socket)
		// The first connection starts the service; it waits in the
		// socket's backlog meanwhile.
		r := get(m.addr)
		if r.err != nil || r.code != http.StatusOK {
			t.Fatalf("first request to the activated socket: code %d, error %v", r.code, r.err)
		}
		if pid := m.mainPID(uc.service); r.pid != pid {
			t.Fatalf("socket activation: answered by pid %d, MainPID is %d", r.pid, pid)
		}
		t.Logf("socket activation: the first connection started the service, answered by MainPID %d", r.pid)
		m.run("systemctl", "stop", uc.service)
	}
	took := time.Now()
	m.run("systemctl", "start", uc.service)
	startTook := time.Since(took)
	r := get(m.addr)
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("request right after systemctl start: code %d, error %v", r.code, r.err)
	}
	if pid := m.mainPID(uc.service); r.pid != pid {
		t.Fatalf("answered by pid %d, MainPID is %d", r.pid, pid)
	}
	t.Logf("systemctl start returned in %s; the request right after it got 200 from MainPID %d", startTook.Round(time.Millisecond), r.pid)
}

// newMainPID returns MainPID once it has moved on from old after a
// reload: the old generation tells systemd MAINPID= naming the new one
// once its probation is over (1s here), so that a new generation that
// dies within it is never systemd's main process.
func newMainPID(t *testing.T, m *machine, uc unitCase, old int) int {
	t.Helper()
	var pid int
	waitFor(t, "MainPID to change from "+strconv.Itoa(old), 20*time.Second, func() bool {
		pid = m.mainPID(uc.service)
		return pid != old && pid != 0
	})
	return pid
}

// handedOver waits for the generation old to hand over after a reload and
// returns the new generation's PID, from the journal: systemd's MainPID
// names it only once the probation is over.
func handedOver(t *testing.T, m *machine, unit string, since time.Time, old int) int {
	t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`msg="handed over; draining" pid=%d .*?to_pid=(\d+)`, old))
	var pid int
	waitFor(t, "the old generation to hand over", 5*time.Second, func() bool {
		if sm := re.FindStringSubmatch(m.journal(unit, since)); sm != nil {
			pid, _ = strconv.Atoi(sm[1])
		}
		return pid != 0
	})
	return pid
}

// gone reports whether a PID of the container no longer runs (or is a
// zombie).
func (m *machine) gone(pid int) bool {
	out, err := m.try("ps", "-o", "stat=", "-p", strconv.Itoa(pid))
	return err != nil || strings.HasPrefix(strings.TrimSpace(out), "Z")
}

// testReloads: n reloads under load lose no request, and MainPID names
// the process that answers after each.
func testReloads(t *testing.T, m *machine, uc unitCase, n int) {
	l := startLoad(m.addr, 4)
	defer func() {
		if l != nil {
			l.end()
		}
	}()
	var reloadTook time.Duration
	oldAnswers := 0 // requests answered by the previous generation just after a reload
	for i := range n {
		old := m.mainPID(uc.service)
		begin := time.Now()
		m.run("systemctl", "reload", uc.service)
		reloadTook += time.Since(begin)
		pid := newMainPID(t, m, uc, old)
		// The old generation stops accepting only once the new one has
		// told systemd and then it that it is ready: a request in
		// between may still reach it.
		waitFor(t, fmt.Sprintf("reload %d: a request answered by MainPID %d", i+1, pid), 5*time.Second, func() bool {
			r := get(m.addr)
			if r.err != nil || r.code != http.StatusOK {
				t.Errorf("reload %d: request after the reload: code %d, error %v", i+1, r.code, r.err)
			}
			if r.pid != pid {
				oldAnswers++
			}
			return r.pid == pid
		})
		// Before the next reload, the previous generation has drained
		// (process.maxGenerations bounds how many may run).
		waitFor(t, fmt.Sprintf("generation pid %d to exit", old), 10*time.Second, func() bool { return m.gone(old) })
	}
	l.end()
	total, failed := l.total.Load(), l.failed.Load()
	errs := l.errs
	l = nil
	t.Logf("%d reloads under load (4 clients, a new connection per request): %d requests, %d failed; MainPID followed every reload; "+
		"systemctl reload took %s on average; %d requests right after a reload were answered by the draining generation",
		n, total, failed, (reloadTook / time.Duration(n)).Round(time.Millisecond), oldAnswers)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the reloads: %v", failed, total, errs)
	}
	// Each new generation is started as systemd's own child (CLONE_PARENT):
	// systemd never supervises a main process it cannot wait for.
	if j := m.journal(uc.service, time.Time{}); strings.Contains(j, "not our child") {
		t.Errorf("systemd followed a main process that is not its child:\n%s", grep(j, "not our child"))
	}
	if total < int64(n) {
		t.Errorf("only %d requests were sent during %d reloads", total, n)
	}
}

var statusRe = regexp.MustCompile(`Status: "([^"]*)"`)

// testStatus: systemctl status shows the process's STATUS= line.
func testStatus(t *testing.T, m *machine, uc unitCase, generation int) {
	out := m.run("systemctl", "status", "--no-pager", "-n", "0", uc.service)
	sm := statusRe.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("no Status: line in systemctl status:\n%s", out)
	}
	if want := fmt.Sprintf("serving (generation %d)", generation); sm[1] != want {
		t.Fatalf("systemctl status shows Status: %q, want %q", sm[1], want)
	}
	t.Logf("systemctl status: Status: %q", sm[1])
}

// testStopWhileDraining: systemctl stop right after a reload, while the old
// generation still drains a slow request and the new one serves another:
// both requests complete, nothing is SIGKILLed, and systemd records the
// main process's exit status 0.
func testStopWhileDraining(t *testing.T, m *machine, uc unitCase, sleep1, sleep2 string) {
	m.run("systemd-analyze", "log-level", "debug") // for "Main process exited"
	defer m.run("systemd-analyze", "log-level", "info")
	since := time.Now()
	p1 := m.mainPID(uc.service)
	slow1 := begin(m.addr, "/?sleep="+sleep1, 20*time.Second)
	m.waitAccepted(t, p1)
	m.run("systemctl", "reload", uc.service)
	p2 := handedOver(t, m, uc.service, since, p1)
	slow2 := begin(m.addr, "/?sleep="+sleep2, 20*time.Second)
	m.waitAccepted(t, p2)
	stopBegin := time.Now()
	m.run("systemctl", "stop", uc.service)
	stopTook := time.Since(stopBegin)
	r1, r2 := <-slow1, <-slow2
	journal := m.journal(uc.service, since)
	result := m.show(uc.service, "Result")
	t.Logf("stop during a drain: systemctl stop took %s; %s request on generation pid %d: %d (answered by %d, %v); %s request on pid %d: %d (answered by %d, %v); Result=%s; SIGKILL lines: %d; main process exit recorded: %v",
		stopTook.Round(time.Millisecond), sleep1, p1, r1.code, r1.pid, r1.err, sleep2, p2, r2.code, r2.pid, r2.err, result,
		strings.Count(journal, "SIGKILL"), strings.Contains(journal, "Main process exited, code=exited, status=0/SUCCESS"))
	if r1.err != nil || r1.code != http.StatusOK || r1.pid != p1 {
		t.Errorf("the request on the draining generation (pid %d): code %d from pid %d, error %v", p1, r1.code, r1.pid, r1.err)
	}
	if r2.err != nil || r2.code != http.StatusOK || r2.pid != p2 {
		t.Errorf("the request on the newest generation (pid %d): code %d from pid %d, error %v", p2, r2.code, r2.pid, r2.err)
	}
	if strings.Contains(journal, "SIGKILL") {
		t.Errorf("systemd SIGKILLed processes:\n%s", grep(journal, "SIGKILL"))
	}
	if !strings.Contains(journal, "Main process exited, code=exited, status=0/SUCCESS") {
		t.Errorf("no clean exit of the main process in the journal:\n%s", grep(journal, "systemd[1]"))
	}
	if result != "success" {
		t.Errorf("Result=%s, want success", result)
	}
	if t.Failed() {
		t.Logf("journal:\n%s", journal)
	}
}

// testStopAfterReload: systemctl stop once the old generation of a reload
// has exited, with a request in flight on the new one: the request
// completes, systemd waits for the main process, nothing is SIGKILLed.
// (A main process that is not systemd's child would get SIGTERM and, at
// once, SIGKILL.)
func testStopAfterReload(t *testing.T, m *machine, uc unitCase) {
	m.run("systemd-analyze", "log-level", "debug")
	defer m.run("systemd-analyze", "log-level", "info")
	since := time.Now()
	p1 := m.mainPID(uc.service)
	// The old generation is still alive when the new one tells systemd
	// MAINPID=: without the adoption, that makes the new one alien.
	first := begin(m.addr, "/?sleep=1s", 20*time.Second)
	m.waitAccepted(t, p1)
	m.run("systemctl", "reload", uc.service)
	p2 := newMainPID(t, m, uc, p1)
	if r := <-first; r.err != nil || r.code != http.StatusOK {
		t.Errorf("the request during the reload: code %d, error %v", r.code, r.err)
	}
	waitFor(t, fmt.Sprintf("generation pid %d to exit", p1), 10*time.Second, func() bool { return m.gone(p1) })
	waitFor(t, "a request answered by the new generation", 5*time.Second, func() bool { return get(m.addr).pid == p2 })
	slow := begin(m.addr, "/?sleep=2s", 20*time.Second)
	m.waitAccepted(t, p2)
	stopBegin := time.Now()
	m.run("systemctl", "stop", uc.service)
	stopTook := time.Since(stopBegin)
	r := <-slow
	journal := m.journal(uc.service, since)
	result := m.show(uc.service, "Result")
	t.Logf("stop after the reload's old generation exited: systemctl stop took %s; 2s request: %d from pid %d (%v); Result=%s; SIGKILL lines: %d",
		stopTook.Round(time.Millisecond), r.code, r.pid, r.err, result, strings.Count(journal, "SIGKILL"))
	if r.err != nil || r.code != http.StatusOK || r.pid != p2 {
		t.Errorf("the request on pid %d: code %d from pid %d, error %v", p2, r.code, r.pid, r.err)
	}
	if strings.Contains(journal, "SIGKILL") {
		t.Errorf("systemd SIGKILLed processes:\n%s", grep(journal, "SIGKILL"))
	}
	if !strings.Contains(journal, "Main process exited, code=exited, status=0/SUCCESS") {
		t.Errorf("no clean exit of the main process in the journal:\n%s", grep(journal, "systemd[1]"))
	}
	if result != "success" {
		t.Errorf("Result=%s, want success", result)
	}
}

// TestStopTimeout: TimeoutStopSec still bounds a stop: what has not drained
// by then is SIGKILLed, and the result says so.
func TestStopTimeout(t *testing.T) {
	m := boot(t, "reload.service")
	m.run("sh", "-c", "mkdir -p /etc/systemd/system/reload.service.d && printf '[Service]\\nTimeoutStopSec=2s\\n' >/etc/systemd/system/reload.service.d/timeout.conf")
	m.run("systemctl", "daemon-reload")
	m.run("systemctl", "start", "reload.service")
	since := time.Now()
	p1 := m.mainPID("reload.service")
	slow1 := begin(m.addr, "/?sleep=30s", 60*time.Second)
	m.waitAccepted(t, p1)
	m.run("systemctl", "reload", "reload.service")
	p2 := handedOver(t, m, "reload.service", since, p1)
	slow2 := begin(m.addr, "/?sleep=30s", 60*time.Second)
	m.waitAccepted(t, p2)
	stopBegin := time.Now()
	m.run("systemctl", "stop", "reload.service")
	stopTook := time.Since(stopBegin)
	r1, r2 := <-slow1, <-slow2
	result := m.show("reload.service", "Result")
	journal := m.journal("reload.service", since)
	t.Logf("TimeoutStopSec=2s, 30s requests on pids %d and %d: systemctl stop took %s, Result=%s, requests: %v / %v",
		p1, p2, stopTook.Round(time.Millisecond), result, r1.err, r2.err)
	if stopTook < 1900*time.Millisecond || stopTook > 10*time.Second {
		t.Errorf("systemctl stop took %s with TimeoutStopSec=2s", stopTook)
	}
	if result != "timeout" {
		t.Errorf("Result=%s, want timeout", result)
	}
	if !strings.Contains(journal, "State 'stop-sigterm' timed out. Killing.") {
		t.Errorf("no stop timeout in the journal:\n%s", grep(journal, "systemd[1]"))
	}
	if r1.err == nil || r2.err == nil {
		t.Errorf("a request outlived the stop timeout: %+v %+v", r1, r2)
	}
	if t.Failed() {
		t.Logf("journal:\n%s", journal)
	}
}

func grep(text, sub string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}

// TestKill: systemctl kill reaches every generation. SIGTERM drains them
// all, as stop does; SIGKILL ends them all at once, and systemd says so.
func TestKill(t *testing.T) {
	m := boot(t, "reload.service")
	const svc = "reload.service"
	inactive := func() bool {
		out, _ := m.try("systemctl", "is-active", svc)
		return strings.TrimSpace(out) == "inactive" || strings.TrimSpace(out) == "failed"
	}
	for _, sig := range []string{"SIGTERM", "SIGKILL"} {
		_, _ = m.try("systemctl", "reset-failed", svc) // after the SIGKILL round
		m.run("systemctl", "start", svc)
		since := time.Now()
		p1 := m.mainPID(svc)
		slow1 := begin(m.addr, "/?sleep=2s", 20*time.Second)
		m.waitAccepted(t, p1)
		m.run("systemctl", "reload", svc)
		p2 := handedOver(t, m, svc, since, p1)
		slow2 := begin(m.addr, "/?sleep=2s", 20*time.Second)
		m.waitAccepted(t, p2)
		killBegin := time.Now()
		m.run("systemctl", "kill", "--signal="+sig, svc)
		// After SIGKILL, Restart=on-failure starts the service again.
		want := map[string]string{"SIGTERM": "Deactivated successfully", "SIGKILL": "Failed with result 'signal'"}[sig]
		waitFor(t, "the service to end after systemctl kill: "+want, 20*time.Second, func() bool {
			return strings.Contains(m.journal(svc, since), want)
		})
		took := time.Since(killBegin)
		r1, r2 := <-slow1, <-slow2
		t.Logf("systemctl kill --signal=%s with requests on pids %d and %d: %q after %s; requests: %d %v / %d %v",
			sig, p1, p2, want, took.Round(time.Millisecond), r1.code, r1.err, r2.code, r2.err)
		for _, pid := range []int{p1, p2} {
			if !m.gone(pid) {
				t.Errorf("pid %d still runs after systemctl kill --signal=%s", pid, sig)
			}
		}
		ok := r1.code == http.StatusOK && r2.code == http.StatusOK
		if sig == "SIGTERM" && !ok {
			t.Errorf("SIGTERM: requests did not complete: %+v %+v", r1, r2)
		}
		if sig == "SIGKILL" && (r1.err == nil || r2.err == nil) {
			t.Errorf("SIGKILL: a request completed: %+v %+v", r1, r2)
		}
		if sig == "SIGTERM" {
			waitFor(t, "the service to be inactive", 10*time.Second, inactive)
		} else {
			m.run("systemctl", "stop", svc)
		}
	}
}

// TestFileDescriptorStore: with FileDescriptorStoreMax= the process stores
// its listening socket in systemd, so a systemctl restart and a kill -9 of
// the main process refuse no connection: they wait in the queue until the
// next process, which gets the socket back by name, accepts them.
func TestFileDescriptorStore(t *testing.T) {
	const unit = "reload-fdstore.service"
	m := boot(t, unit)
	m.run("systemctl", "start", unit)
	if n := m.show(unit, "NFileDescriptorStore"); n != "1" {
		t.Fatalf("NFileDescriptorStore=%s after start, want 1 (the listening socket)", n)
	}
	for _, how := range []string{"systemctl restart", "kill -9"} {
		l := startLoad(m.addr, 4)
		waitFor(t, "the load to run", 10*time.Second, func() bool { return l.total.Load() > 50 })
		old := m.mainPID(unit)
		if how == "kill -9" {
			m.run("kill", "-9", strconv.Itoa(old))
		} else {
			m.run("systemctl", "restart", unit)
		}
		waitFor(t, how+": a new main process that answers", 30*time.Second, func() bool {
			pid := m.mainPID(unit)
			if pid == 0 || pid == old {
				return false
			}
			return get(m.addr).pid == pid
		})
		// Some more load on the new process.
		before := l.total.Load()
		waitFor(t, "load on the new process", 10*time.Second, func() bool { return l.total.Load() > before+50 })
		l.end()
		total, failed, refused := l.total.Load(), l.failed.Load(), l.refused.Load()
		t.Logf("%s under load (4 clients, a new connection per request): %d requests, %d refused, %d failed otherwise (in flight on the killed process: %v)",
			how, total, refused, failed-refused, l.errs)
		if refused > 0 {
			t.Errorf("%s: %d connections refused", how, refused)
		}
		if how == "systemctl restart" && failed > 0 {
			t.Errorf("%s: %d requests failed: %v", how, failed, l.errs)
		}
		if n := m.show(unit, "NFileDescriptorStore"); n != "1" {
			t.Errorf("NFileDescriptorStore=%s after %s, want 1", n, how)
		}
	}
	m.run("systemctl", "stop", unit)
}
