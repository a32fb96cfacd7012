//go:build linux

package graceful

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// restartCount is how many restarts the load test performs;
// GRACEFUL_TEST_RESTARTS raises it for runs by hand.
func restartCount(t *testing.T) int {
	if s := os.Getenv("GRACEFUL_TEST_RESTARTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("GRACEFUL_TEST_RESTARTS=%q is not a positive number", s)
		}
		return n
	}
	return 20
}

// startLoad runs the three kinds of non-retrying clients against the
// cluster until the returned stop function is called.
func startLoad(c *cluster, perKind int) (stop func() *loadgen.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	done := make(chan *loadgen.Result, 1)
	go func() {
		network, address := c.endpoint()
		done <- loadgen.Run(ctx, loadgen.Options{
			Network: network,
			Address: address,
			Clients: [loadgen.NumKinds]int{loadgen.KeepAliveGet: perKind, loadgen.KeepAlivePost: perKind, loadgen.NewConnGet: perKind},
			Pace:    time.Millisecond,
		})
	}()
	return func() *loadgen.Result {
		cancel()
		return <-done
	}
}

// withoutRuntimeFds drops the descriptors the Go runtime opens for itself.
func withoutRuntimeFds(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, " anon_inode:") || strings.Contains(l, " /sys/fs/cgroup/") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func requireNoFailures(t *testing.T, r *loadgen.Result) {
	t.Helper()
	t.Logf("load: %s", r.Summary())
	for i, f := range r.Failures {
		if i == 20 {
			t.Errorf("... and %d more", len(r.Failures)-20)
			break
		}
		t.Errorf("lost request: %s", f)
	}
	if r.Successes == 0 {
		t.Error("no request succeeded: the load never reached the server")
	}
}

func TestRestartUnderLoadLosesNothing(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	firstFds := c.fds()
	stop := startLoad(c, 2)
	n := restartCount(t)
	var latencies []time.Duration
	for range n {
		_, took := c.restart()
		latencies = append(latencies, took)
	}
	r := stop()
	requireNoFailures(t, r)

	// Every generation served part of the load.
	c.mu.Lock()
	seen := slices.Clone(c.seen)
	c.mu.Unlock()
	if len(seen) != n+1 {
		t.Fatalf("%d generations served, want %d", len(seen), n+1)
	}
	slices.Sort(latencies)
	t.Logf("%d restarts: signal to first answer from the new PID p50 %s, max %s",
		n, latencies[len(latencies)/2].Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond))

	// The last generation holds exactly the sockets, pipes and files the
	// first did, all of them close-on-exec, and the handover variables
	// are gone. (The Go runtime's own descriptors, its poller and the
	// cgroup files it watches for GOMAXPROCS, come and go.)
	// (The lifeline of the generation before it closes once that one has
	// exited, which the last generation sees a moment later.)
	firstFds = withoutRuntimeFds(firstFds)
	var lastFds []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		lastFds = withoutRuntimeFds(c.fds())
		if len(lastFds) == len(firstFds) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(lastFds) != len(firstFds) {
		t.Errorf("open descriptors: %d after the first start, %d after %d restarts\nfirst:\n%s\nlast:\n%s",
			len(firstFds), len(lastFds), n, strings.Join(firstFds, "\n"), strings.Join(lastFds, "\n"))
	}
	// Descriptors the test process itself passed down without
	// close-on-exec are the environment's; the handover adds none.
	inherited := map[string]bool{}
	for _, l := range firstFds {
		if strings.Contains(l, " inherit ") {
			inherited[l] = true
		}
	}
	for _, l := range lastFds {
		if strings.Contains(l, " inherit ") && !inherited[l] {
			t.Errorf("descriptor without close-on-exec in generation %d: %s", n+1, l)
		}
	}
	if env, err := c.get("/env"); err != nil || env != "" {
		t.Errorf("handover variables visible to the app: %q %v", env, err)
	}
	c.stop()
	c.checkClean()
	if _, err := os.Stat(c.pidFile); !os.IsNotExist(err) {
		t.Errorf("PID file left after the final stop: %v", err)
	}
}

func TestSlowRequestFinishesOnOldGeneration(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	old := c.pidFromFile()
	answer := make(chan string, 1)
	go func() {
		body, err := c.get("/?sleep=1500ms")
		if err != nil {
			body = err.Error()
		}
		answer <- body
	}()
	c.waitInFlight(1)
	c.mustSignal(old, syscall.SIGHUP)
	c.record(c.waitServingPID(old, 30*time.Second))
	if got := <-answer; !strings.HasPrefix(got, fmt.Sprintf("pid=%d ", old)) {
		t.Fatalf("slow request answered %q, want the old generation %d", got, old)
	}
	c.WaitGone(old, 30*time.Second)
	c.stop()
	c.checkClean()
}

// The upgrade timeouts of the tests whose child hangs or stops in its
// start-up: long enough for a child built with -race, on a machine under
// stress, to reach the hang it was asked for, so that what the parent
// reports is that hang. A child that ends on its own gets a timeout it
// never reaches.
const (
	hangTimeout  = 2 * time.Second
	neverTimeout = time.Minute
)

func TestFailedRestartKeepsOldGenerationServing(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		timeout   time.Duration
		reason    string // in the parent's log
		stderr    string // the child's words, in the parent's log
	}{
		{"crash", neverTimeout, "exited before it was ready: exit status 3", "crashing during start-up as asked"},
		{"badconfig", neverTimeout, "exited before it was ready: exit status 1", `server.readTimeout: \"fast\" is not a duration`},
		{"hang", hangTimeout, "was not ready within the upgrade timeout of " + hangTimeout.String(), "hanging during start-up as asked"},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			c := startCluster(t, clusterOptions{env: []string{envTimeout + "=" + tc.timeout.String()}})
			parent := c.pidFromFile()
			stop := startLoad(c, 1)
			c.setBehaviour(tc.behaviour)
			c.mustSignal(parent, syscall.SIGHUP)
			waitFor(t, "the restart to fail", 20*time.Second, func() bool {
				return c.logCount("restart failed; still serving") == 1
			})
			if got := c.pidFromFile(); got != parent {
				t.Fatalf("PID file names %d after a failed restart, want the parent %d", got, parent)
			}
			if n := c.logCount("restart failed; still serving", tc.reason, tc.stderr); n != 1 {
				t.Errorf("the parent's log does not give the reason %q and the child's words %q:\n%s", tc.reason, tc.stderr, c.Output())
			}
			for _, pid := range c.failedChildren() {
				if st := procState(pid); st != "" {
					t.Errorf("failed child %d still exists (state %s): not reaped", pid, st)
				}
			}
			// The next restart, with a good start-up, succeeds.
			c.setBehaviour("ok")
			c.restart()
			requireNoFailures(t, stop())
			c.stop()
			c.checkClean()
		})
	}
}

// TestAFailedStartLeavesNothingHoldingTheSockets: a new binary that is a
// wrapper script, which runs a program without exec and then fails (it
// exits, or hangs until the upgrade timeout), is stopped as before; the
// program it started inherited the child's descriptors, the listening
// socket among them, and is killed too. Before, it kept the socket open
// after the service had stopped: connections were queued that nobody
// would accept, and a new start could not bind the port.
func TestAFailedStartLeavesNothingHoldingTheSockets(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		for _, tc := range []struct {
			name, end string
			timeout   time.Duration
			reason    string
		}{
			{"exits", "exit 7", neverTimeout, "exited before it was ready: exit status 7"},
			{"hangs", "wait", hangTimeout, "was not ready within the upgrade timeout"},
		} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				app := filepath.Join(dir, "app")
				if err := os.Symlink(self, app); err != nil {
					t.Fatal(err)
				}
				c := startCluster(t, clusterOptions{mode: mode, exe: app, env: []string{envTimeout + "=" + tc.timeout.String()}})
				first := c.pidFromFile()
				stop := startLoad(c, 1)
				leftover := filepath.Join(dir, "leftover.pid")
				script := "#!/bin/sh\nsleep 600 &\necho $! > " + leftover + "\n" + tc.end + "\n"
				if err := os.WriteFile(app+".new", []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(app+".new", app); err != nil {
					t.Fatal(err)
				}
				c.mustSignal(first, syscall.SIGHUP)
				waitFor(t, "the restart to fail", 20*time.Second, func() bool {
					return c.logCount("restart failed; still serving", tc.reason) == 1
				})
				b, err := os.ReadFile(leftover)
				if err != nil {
					t.Fatal(err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				// Killed (SIGKILL) before the log line; the kernel ends it
				// once it runs, which a busy machine may delay.
				waitFor(t, fmt.Sprintf("the program the failed binary started (pid %d) to end", pid), 10*time.Second, func() bool {
					st := procState(pid)
					return st == "" || st == "Z"
				})
				if c.logCount("restart failed; still serving", "leftovers_killed=1") != 1 {
					t.Errorf("the log does not say that a leftover process was killed:\n%s", c.Output())
				}
				requireNoFailures(t, stop())
				if mode == RestartModeSupervisor {
					c.stopSupervisor(first)
					return
				}
				c.stop()
				c.checkClean()
			})
		}
	}
}

func TestSignalStormStartsOneSuccessor(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	stop := startLoad(c, 1)
	first := c.pidFromFile()
	// The storm: signals that reach the first generation once it has
	// handed over and exited are not an error (signal reports false).
	for range 10 {
		c.Signal(first, syscall.SIGHUP)
		time.Sleep(10 * time.Millisecond)
	}
	next := c.waitServingPID(first, 30*time.Second)
	c.record(next)
	c.WaitGone(first, 30*time.Second)
	if n := c.logCount("restart: starting", fmt.Sprintf("pid=%d ", first)); n != 1 {
		t.Errorf("generation 1 started %d successors, want exactly 1\n%s", n, c.Output())
	}
	// Signals that came during the restart, or reached generation 1 once
	// it had handed over, are passed on to its successor: one more
	// restart, coalesced, and so on down the line, which ends once the
	// storm is over, with one process serving. No generation starts more
	// than one successor.
	waitFor(t, "one process to serve after the storm", 30*time.Second, func() bool {
		pids := c.LivePIDs()
		return len(pids) == 1 && c.bodyPID() == pids[0]
	})
	starts := map[string]int{}
	for _, m := range regexp.MustCompile(`msg="restart: starting[^\n]* pid=(\d+) `).FindAllStringSubmatch(c.Output(), -1) {
		starts[m[1]]++
	}
	for pid, n := range starts {
		if n != 1 {
			t.Errorf("the generation with pid %s started %d successors, want 1\n%s", pid, n, c.Output())
		}
	}
	c.record(c.LivePIDs()[0])
	requireNoFailures(t, stop())
	c.stop()
	c.checkClean()
}

func TestRestartFromCode(t *testing.T) {
	c := startCluster(t, clusterOptions{env: []string{envTimeout + "=" + hangTimeout.String()}})
	old := c.pidFromFile()
	body, err := c.get("/restart")
	if err != nil || !strings.Contains(body, fmt.Sprintf("restarted by pid=%d", old)) {
		t.Fatalf("/restart: %q %v", body, err)
	}
	c.record(c.waitServingPID(old, 30*time.Second))
	c.WaitGone(old, 30*time.Second)

	// Two at once: one wins, the other is told a restart is under way.
	c.setBehaviour("hang")
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range results {
		wg.Go(func() {
			body, err := c.get("/restart")
			if err != nil {
				body = err.Error()
			}
			results[i] = body
		})
	}
	wg.Wait()
	joined := strings.Join(results, " | ")
	if !strings.Contains(joined, "already in progress") || !strings.Contains(joined, "upgrade timeout") {
		t.Errorf("concurrent restarts: %s; want one in-progress refusal and one timeout", joined)
	}
	c.stop()
	c.checkClean()
}

func TestChainedRestartsAreBounded(t *testing.T) {
	c := startCluster(t, clusterOptions{env: []string{envMaxGen + "=3"}})
	// Each long request is held by a gate, so generations 1 and 2 drain
	// for exactly as long as the test needs, however slow the machine.
	long := func(gate string) chan string {
		ch := make(chan string, 1)
		go func() {
			body, err := c.get("/?gate=" + gate)
			if err != nil {
				body = err.Error()
			}
			ch <- body
		}()
		c.waitInFlight(1)
		return ch
	}
	// handOver restarts the serving generation and waits until the old
	// one has stopped accepting: only then does every new connection
	// reach the successor.
	handOver := func(old int) int {
		c.mustSignal(old, syscall.SIGHUP)
		next := c.waitServingPID(old, 30*time.Second)
		c.record(next)
		c.waitLog(30*time.Second, fmt.Sprintf("pid=%d ", old), "shutdown started")
		return next
	}
	release1, release2 := c.gate("gen1"), c.gate("gen2")
	gen1 := c.pidFromFile()
	slow1 := long("gen1")
	gen2 := handOver(gen1)
	slow2 := long("gen2")
	gen3 := handOver(gen2)

	// Generations 1 and 2 still drain: a fourth is refused.
	body, err := c.get("/restart")
	if err == nil || !strings.Contains(body, "too many generations alive") {
		t.Errorf("restart with 3 generations alive: %q %v, want a refusal", body, err)
	}
	release1()
	release2()
	if got := <-slow1; !strings.HasPrefix(got, fmt.Sprintf("pid=%d ", gen1)) {
		t.Errorf("long request on generation 1: %q", got)
	}
	if got := <-slow2; !strings.HasPrefix(got, fmt.Sprintf("pid=%d ", gen2)) {
		t.Errorf("long request on generation 2: %q", got)
	}
	c.WaitGone(gen1, 30*time.Second)
	c.WaitGone(gen2, 30*time.Second)
	if got, _ := c.restart(); got == gen3 {
		t.Errorf("the restart after the drains did not replace generation 3")
	}
	c.stop()
	c.checkClean()
}

func TestHijackedStreamAcrossRestart(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	old := c.pidFromFile()
	_, addr := c.endpoint()
	conn := dialHTTP(t, addr)
	if _, err := fmt.Fprint(conn.conn, "GET /hijack HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := conn.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "tick") {
			break
		}
	}
	c.restart()
	// The old generation told the stream it was going, then closed it.
	var last string
	for {
		line, err := conn.br.ReadString('\n')
		if err != nil {
			break
		}
		last = line
	}
	if want := fmt.Sprintf("bye from pid=%d\n", old); last != want {
		t.Errorf("last line on the hijacked stream: %q, want %q", last, want)
	}
	c.stop()
	c.checkClean()
}

func TestUnixSocketSurvivesHandover(t *testing.T) {
	path := t.TempDir() + "/app.sock"
	c := startCluster(t, clusterOptions{addr: UnixAddressPrefix + path})
	c.restart()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("socket file gone after the handover: %v", err)
	}
	c.restart()
	c.stop()
	c.checkClean()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after the final stop: %v", err)
	}
}

func TestShutdownDelayKeepsServingWithReadiness503(t *testing.T) {
	// Long enough for the checks below to run within it on a busy machine.
	const delay = 3 * time.Second
	c := startCluster(t, clusterOptions{env: []string{envDelay + "=" + delay.String()}})
	pid := c.pidFromFile()
	if _, err := c.get("/ready"); err != nil {
		t.Fatalf("readiness before shutdown: %v", err)
	}
	stop := startLoad(c, 1)
	begin := time.Now()
	c.mustSignal(pid, syscall.SIGTERM)
	waitFor(t, "readiness to turn 503", 5*time.Second, func() bool {
		body, err := c.get("/ready")
		return err != nil && strings.Contains(body, "shutting down")
	})
	if _, err := c.get("/live"); err != nil {
		t.Errorf("liveness during the delay: %v", err)
	}
	if body, err := c.get("/"); err != nil || !strings.Contains(body, fmt.Sprintf("pid=%d ", pid)) {
		t.Errorf("request during the delay: %q %v", body, err)
	}
	c.WaitGone(pid, 30*time.Second)
	if took := time.Since(begin); took < delay {
		t.Errorf("stopped after %s, before the %s shutdown delay", took, delay)
	}
	r := stop()
	requireNothingSentLostAtTheLastClose(t, r)
	c.checkClean()
}

// requireNothingSentLostAtTheLastClose checks the load of a final stop.
// Once the listener closes, clients see refused connections, which are
// not lost requests. Closing the last listener of a socket makes the
// kernel reset the connections still in its accept queue (README,
// "Limits"): a new connection reset before any answer is that, and only
// that. Anything else sent is a lost request.
func requireNothingSentLostAtTheLastClose(t *testing.T, r *loadgen.Result) {
	t.Helper()
	for _, f := range r.Failures {
		switch {
		case !f.Sent:
		case f.Kind == loadgen.NewConnGet && f.Class == loadgen.Reset && !f.Answered:
			t.Logf("connection reset in the accept queue: %s", f)
		default:
			t.Errorf("lost request: %s", f)
		}
	}
}

// TestSupervisorStopSentToTheProcessGroupKeepsTheDelay: a stop signal
// sent to the whole process group (a terminal's Ctrl-C, dumb-init, tini
// -g, supervisord's stopasgroup, systemd's KillMode=control-group)
// reaches the worker too, which leaves the stop to its supervisor: the
// shutdown delay is kept, readiness answers 503 for it while requests are
// served, and nothing is lost.
func TestSupervisorStopSentToTheProcessGroupKeepsTheDelay(t *testing.T) {
	const delay = 3 * time.Second
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor, env: []string{envDelay + "=" + delay.String()}})
	supervisor := c.pidFromFile()
	stop := startLoad(c, 1)
	begin := time.Now()
	if err := syscall.Kill(-c.PGID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readiness to turn 503", 5*time.Second, func() bool {
		body, err := c.get("/ready")
		return err != nil && strings.Contains(body, "shutting down")
	})
	if _, err := c.get("/"); err != nil {
		t.Errorf("request during the delay: %v", err)
	}
	c.WaitGone(supervisor, 30*time.Second)
	if took := time.Since(begin); took < delay {
		t.Errorf("stopped after %s, before the %s shutdown delay\n%s", took, delay, c.Output())
	}
	if !strings.Contains(c.Output(), "stop signal ignored: the supervisor stops workers") {
		t.Errorf("the worker does not say it left the stop to its supervisor:\n%s", c.Output())
	}
	requireNothingSentLostAtTheLastClose(t, stop())
	c.checkClean()
}

func TestSecondSignalCutsShutdownDelay(t *testing.T) {
	c := startCluster(t, clusterOptions{env: []string{envDelay + "=30s"}})
	pid := c.pidFromFile()
	c.mustSignal(pid, syscall.SIGTERM)
	waitFor(t, "readiness to turn 503", 5*time.Second, func() bool {
		_, err := c.get("/ready")
		return err != nil
	})
	begin := time.Now()
	c.mustSignal(pid, syscall.SIGINT)
	c.WaitGone(pid, 10*time.Second)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("second signal: stopped after %s, want the delay cut short", took)
	}
	c.checkClean()
}

// copyFile copies the file at src to dst, executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestRestartRunsTheBinaryNowAtThePath deploys a new binary over the
// running one's path: the restart runs the new file. Then the file is
// removed (as `go run` removes its temporary binary): the restart runs
// the running binary again instead of failing.
func TestRestartRunsTheBinaryNowAtThePath(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	copyFile(t, os.Args[0], bin)
	c := startCluster(t, clusterOptions{exe: bin})

	copyFile(t, os.Args[0], bin) // a new deployment: a new file at the path
	var st syscall.Stat_t
	if err := syscall.Stat(bin, &st); err != nil {
		t.Fatal(err)
	}
	second, _ := c.restart()
	var running syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/exe", second), &running); err != nil {
		t.Fatal(err)
	}
	if running.Ino != st.Ino {
		t.Errorf("generation 2 runs inode %d, not the binary deployed at %s (inode %d)", running.Ino, bin, st.Ino)
	}

	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	c.restart()
	if c.logCount("the binary is gone; starting the running binary again") != 1 {
		t.Errorf("the restart after the binary was removed did not say so:\n%s", c.Output())
	}
	c.stop()
	c.checkClean()
}

// TestRestartSignalBeforeNewProcessDoesNotKillTheChild sends the restart
// signal to a new generation that has not yet called NewProcess: it
// inherited the signal as ignored, so it survives and takes over.
func TestRestartSignalBeforeNewProcessDoesNotKillTheChild(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	parent := c.pidFromFile()
	release := c.gate("start")
	c.setBehaviour("gated")
	c.mustSignal(parent, syscall.SIGHUP)
	child := c.waitAtGate("start", 30*time.Second)
	// The child has not called NewProcess yet: it holds at the gate,
	// which it reaches once the early catching has begun (see
	// internal/earlysignal, and the gated behaviour in role_test.go).
	c.mustSignal(child, syscall.SIGHUP)
	release()
	if got := c.waitServingPID(parent, 30*time.Second); got != child {
		t.Fatalf("serving pid %d, want the child %d that got SIGHUP while starting", got, child)
	}
	c.record(child)
	c.WaitGone(parent, 30*time.Second)
	c.stop()
	c.checkClean()
}

// TestCountersGoOnAcrossRestarts: the lifecycle counters a process reports
// are the service's: after N restarts they say N, in both modes, and a
// drain's counts reach the generation that serves once the old one has
// exited.
func TestCountersGoOnAcrossRestarts(t *testing.T) {
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, clusterOptions{mode: mode})
			stats := func() ProcessStats {
				t.Helper()
				body, err := c.get("/stats")
				if err != nil {
					t.Fatal(err)
				}
				var st ProcessStats
				if err := json.Unmarshal([]byte(body), &st); err != nil {
					t.Fatalf("/stats %q: %v", body, err)
				}
				return st
			}
			if st := stats(); st.RestartsSucceeded != 0 || st.Drains != 0 || !st.Ready {
				t.Fatalf("a fresh service: %+v", st)
			}
			const n = 3
			for i := 1; i <= n; i++ {
				c.restart()
				var st ProcessStats
				waitFor(t, "the drain to be counted", 10*time.Second, func() bool {
					st = stats()
					return st.Drains == uint64(i)
				})
				if st.RestartsSucceeded != uint64(i) || st.RestartsFailed != 0 || st.LastRestartDuration <= 0 {
					t.Errorf("after %d restarts: %+v", i, st)
				}
			}
			c.setBehaviour("crash")
			c.mustSignal(c.pidFromFile(), syscall.SIGHUP)
			waitFor(t, "the failure to be counted", 30*time.Second, func() bool { return stats().RestartsFailed == 1 })
			if st := stats(); st.RestartsSucceeded != n {
				t.Errorf("after a failed restart: %+v", st)
			}
			c.stop()
			c.checkClean()
		})
	}
}

// TestAppSignalHandlersSurviveRestarts: the program's own signal.Notify
// for the restart signal keeps working after restarts (a failed one here,
// so that the same process is asked twice).
func TestAppSignalHandlersSurviveRestarts(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	pid := c.pidFromFile()
	c.setBehaviour("crash")
	for i := 1; i <= 2; i++ {
		c.mustSignal(pid, syscall.SIGHUP)
		c.waitLog(30*time.Second, fmt.Sprintf("pid=%d ", pid), "restart failed; still serving")
		waitFor(t, "the failure to be logged", 30*time.Second, func() bool {
			return c.logCount("restart failed; still serving", fmt.Sprintf("pid=%d ", pid)) == i
		})
	}
	if got, err := c.get("/apphup"); err != nil || got != "2" {
		t.Errorf("the program's own SIGHUP handler saw %q (%v), want 2", got, err)
	}
	c.stop()
	c.checkClean()
}

// TestRollbackWhenTheNewReleaseDiesAfterReady: a release that crashes one
// second after it became ready, under load; the old generation, in its
// probation, serves again. No connection is refused; only requests that
// were in flight on the process that died may be lost.
func TestRollbackWhenTheNewReleaseDiesAfterReady(t *testing.T) {
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, clusterOptions{mode: mode, env: []string{envProbation + "=30s"}})
			old := c.servingPID() // in supervisor mode, the worker
			stop := startLoad(c, 1)
			c.setBehaviour("crashafter")
			c.mustSignal(c.pidFromFile(), syscall.SIGHUP)
			next := c.waitServingPID(old, 30*time.Second)
			c.record(next)
			c.setBehaviour("ok")
			c.waitLog(30*time.Second, fmt.Sprintf("pid=%d ", old), "rolled back: serving again")
			if got := c.waitServingPID(next, 30*time.Second); got != old {
				t.Fatalf("after the rollback %d answers, want the old generation %d", got, old)
			}
			r := stop()
			t.Logf("load: %s", r.Summary())
			var lost int
			for _, f := range r.Failures {
				if f.Class == loadgen.Refused || !f.Sent {
					t.Errorf("refused during the rollback: %s", f)
					continue
				}
				lost++ // in flight on the process that died
			}
			if lost > 3 {
				t.Errorf("%d requests lost; at most one per client may be in flight on the dead process", lost)
			}
			if r.Successes == 0 {
				t.Fatal("no request succeeded")
			}
			// A later restart succeeds. (The old generation then waits out
			// its probation, until the new one is stopped.)
			c.mustSignal(c.pidFromFile(), syscall.SIGHUP)
			c.record(c.waitServingPID(old, 30*time.Second))
			c.stop()
			c.WaitGone(old, 30*time.Second)
			c.checkClean()
		})
	}
}

// TestNewGenerationOutlivesItsParent: the old generation is killed at
// each step of the handshake; the new one still becomes ready and serves.
func TestNewGenerationOutlivesItsParent(t *testing.T) {
	for _, step := range []struct{ behaviour, gate string }{
		{"gated", "start"},  // before NewProcess
		{"gatedrun", "run"}, // after start-up, before Run reports ready
	} {
		t.Run(step.gate, func(t *testing.T) {
			c := startCluster(t, clusterOptions{})
			parent := c.pidFromFile()
			release := c.gate(step.gate)
			c.setBehaviour(step.behaviour)
			c.mustSignal(parent, syscall.SIGHUP)
			child := c.waitAtGate(step.gate, 30*time.Second)
			c.mustSignal(parent, syscall.SIGKILL)
			c.WaitGone(parent, 30*time.Second)
			c.setBehaviour("ok")
			release()
			if got := c.waitServingPID(parent, 30*time.Second); got != child {
				t.Fatalf("serving pid %d, want the child %d", got, child)
			}
			c.record(child)
			if _, err := c.get("/"); err != nil {
				t.Fatal(err)
			}
			c.stop()
			c.checkClean()
		})
	}
}

// TestStoppedNewGenerationIsKilledPromptly: a new generation that stops
// itself (SIGTERM cannot end it) is killed soon after the restart timeout,
// and a restart asked for meanwhile then runs.
func TestStoppedNewGenerationIsKilledPromptly(t *testing.T) {
	c := startCluster(t, clusterOptions{env: []string{envTimeout + "=" + hangTimeout.String()}})
	pid := c.pidFromFile()
	c.setBehaviour("stop")
	begin := time.Now()
	c.mustSignal(pid, syscall.SIGHUP)
	waitFor(t, "the new generation to stop itself", 30*time.Second, func() bool {
		for _, p := range c.LivePIDs() {
			if p != pid && procState(p) == "T" {
				return true
			}
		}
		return false
	})
	c.mustSignal(pid, syscall.SIGHUP) // during the restart: remembered
	c.setBehaviour("ok")              // for the second attempt
	c.waitLog(30*time.Second, fmt.Sprintf("pid=%d ", pid), "restart failed; still serving", "upgrade timeout of "+hangTimeout.String())
	// A bound on a hang, not a race: the timeout + the 2s stop grace, with room.
	if took := time.Since(begin); took > hangTimeout+notReadyStopGrace+10*time.Second {
		t.Errorf("the stopped child was given up on after %s", took)
	}
	for _, child := range c.failedChildren() {
		if st := procState(child); st != "" {
			t.Errorf("the stopped child %d is still there (state %s)", child, st)
		}
	}
	// The remembered signal: a second attempt, which now succeeds.
	next := c.waitServingPID(pid, 60*time.Second)
	c.record(next)
	c.WaitGone(pid, 30*time.Second)
	c.stop()
	c.checkClean()
}
