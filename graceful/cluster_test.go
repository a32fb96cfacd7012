//go:build linux

package graceful

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cluster is a service under test: the generations of the server role
// that replace each other on restart. It knows every PID that served, so
// that it can check that nothing is left behind.
type cluster struct {
	t       *testing.T
	dir     string
	runID   string
	addr    string
	pidFile string
	bfile   string // behaviour file read by each generation at start-up
	first   *exec.Cmd
	stderr  *syncBuffer
	mu      sync.Mutex
	seen    []int // every PID that served, in order
}

type clusterOptions struct {
	addr  string
	env   []string
	files []*os.File // extra files for the first generation
	role  string     // "server" by default
}

// syncBuffer collects the standard error of every generation.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func init() {
	// Old generations are orphaned when they hand over: make the test
	// process their reaper, so that the test can see and collect them
	// instead of leaving that to whatever PID 1 the machine has.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// startCluster starts the first generation and waits until it serves.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{
		t:       t,
		dir:     dir,
		runID:   fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
		addr:    o.addr,
		pidFile: filepath.Join(dir, "server.pid"),
		bfile:   filepath.Join(dir, "behaviour"),
		stderr:  &syncBuffer{},
	}
	if c.addr == "" {
		c.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	c.setBehaviour("ok")
	role := o.role
	if role == "" {
		role = "server"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envRole+"="+role,
		envRun+"="+c.runID,
		envAddr+"="+c.addr,
		envPIDFile+"="+c.pidFile,
		envBehaviour+"="+c.bfile,
	)
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	cmd.ExtraFiles = o.files
	if err := cmd.Start(); err != nil {
		t.Fatalf("start first generation: %v", err)
	}
	c.first = cmd
	go func() { _ = cmd.Wait() }()
	t.Cleanup(c.cleanup)
	pid := c.waitServingPID(0, 20*time.Second)
	c.record(pid)
	return c
}

func (c *cluster) setBehaviour(b string) {
	c.t.Helper()
	if err := os.WriteFile(c.bfile, []byte(b), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) record(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, pid)
}

// pidFromFile reads the PID file, 0 when it is missing or partial.
func (c *cluster) pidFromFile() int {
	b, err := os.ReadFile(c.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitServingPID waits until the PID file names a process other than not
// and that process answers requests.
func (c *cluster) waitServingPID(not int, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pid := c.pidFromFile(); pid != 0 && pid != not {
			if got, err := c.get("/"); err == nil && strings.Contains(got, fmt.Sprintf("pid=%d ", pid)) {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no new serving process within %s (PID file says %d)\nlogs:\n%s", timeout, c.pidFromFile(), c.stderr)
	return 0
}

// endpoint returns the network and address clients dial.
func (c *cluster) endpoint() (network, address string) {
	if path, ok := strings.CutPrefix(c.addr, UnixAddressPrefix); ok {
		return "unix", path
	}
	return "tcp", c.addr
}

// get sends one request on a fresh connection.
func (c *cluster) get(path string) (string, error) {
	network, address := c.endpoint()
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, address)
		},
	}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := cl.Get("http://gracekit" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}

// waitInFlight waits until the serving process runs n requests besides
// the one that asks.
func (c *cluster) waitInFlight(n int) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%d requests in flight", n), 10*time.Second, func() bool {
		body, err := c.get("/inflight")
		got, _ := strconv.Atoi(strings.TrimSpace(body))
		return err == nil && got-1 >= n
	})
}

// signal sends sig to pid.
func (c *cluster) signal(pid int, sig syscall.Signal) {
	c.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		c.t.Fatalf("signal %v to %d: %v", sig, pid, err)
	}
}

// restart asks the serving generation to restart and waits until its
// successor serves and the old process has exited. It returns the new PID
// and the time from the signal to the successor's first answer.
func (c *cluster) restart() (int, time.Duration) {
	c.t.Helper()
	old := c.pidFromFile()
	begin := time.Now()
	c.signal(old, syscall.SIGHUP)
	pid := c.waitServingPID(old, 30*time.Second)
	took := time.Since(begin)
	c.record(pid)
	c.waitGone(old, 30*time.Second)
	return pid, took
}

// waitGone waits until pid has exited, reaping it if it is the test's own
// (adopted) child.
func (c *cluster) waitGone(pid int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !c.alive(pid) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("process %d still running after %s\nlogs:\n%s", pid, timeout, c.stderr)
}

// alive reports whether pid runs; a zombie that is the test's child is
// reaped and counts as gone.
func (c *cluster) alive(pid int) bool {
	if pid == c.first.Process.Pid {
		// exec.Cmd.Wait reaps it.
		return syscall.Kill(pid, 0) == nil && procState(pid) != "Z"
	}
	var ws unix.WaitStatus
	if got, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// stop sends SIGTERM to the serving generation and waits for it to exit.
func (c *cluster) stop() {
	c.t.Helper()
	pid := c.pidFromFile()
	if pid == 0 {
		c.t.Fatal("no serving process to stop")
	}
	c.signal(pid, syscall.SIGTERM)
	c.waitGone(pid, 30*time.Second)
}

// processes returns the PIDs of the processes of this test still alive
// (zombies included), found by their environment marker.
func (c *cluster) processes() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.Contains(env, []byte(envRun+"="+c.runID+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombies returns the zombie processes whose parent is one of the
// cluster's processes or the test itself.
func (c *cluster) zombies() []string {
	parents := map[int]bool{os.Getpid(): true}
	c.mu.Lock()
	for _, pid := range c.seen {
		parents[pid] = true
	}
	c.mu.Unlock()
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid := procStat(pid)
		if state == "Z" && parents[ppid] && pid != c.first.Process.Pid {
			out = append(out, fmt.Sprintf("%d (parent %d)", pid, ppid))
		}
	}
	return out
}

// checkClean fails the test if a process of the cluster is still alive
// or a zombie was left behind.
func (c *cluster) checkClean() {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := c.processes()
		var alive []int
		for _, pid := range left {
			if c.alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Errorf("processes left behind: %v\nlogs:\n%s", alive, c.stderr)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if z := c.zombies(); len(z) > 0 {
		c.t.Errorf("zombies left behind: %v", z)
	}
}

// cleanup kills whatever is left, so that a failing test does not leak
// processes into the next one.
func (c *cluster) cleanup() {
	for _, pid := range c.processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range c.processes() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}
	if c.t.Failed() {
		c.t.Logf("logs of all generations:\n%s", c.stderr)
	}
}

// logCount counts log lines that contain all the given fragments.
func (c *cluster) logCount(fragments ...string) int {
	n := 0
	for line := range strings.SplitSeq(c.stderr.String(), "\n") {
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			n++
		}
	}
	return n
}

// fds asks the serving process for its open descriptors.
func (c *cluster) fds() []string {
	c.t.Helper()
	body, err := c.get("/fds")
	if err != nil {
		c.t.Fatalf("/fds: %v", err)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(body), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func procStat(pid int) (state string, ppid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid ...; comm may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0], ppid
}

func procState(pid int) string {
	s, _ := procStat(pid)
	return s
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	s := New("127.0.0.1:0", 0, DefaultServerConfig())
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	port := s.GetListenedPort()
	_ = s.Close(context.Background())
	return port
}

var childPIDPattern = regexp.MustCompile(`child_pid=(\d+)`)

// failedChildren returns the PIDs of children whose restart failed, from
// the logs.
func (c *cluster) failedChildren() []int {
	var pids []int
	for line := range strings.SplitSeq(c.stderr.String(), "\n") {
		if !strings.Contains(line, "restart failed; still serving") {
			continue
		}
		if m := childPIDPattern.FindStringSubmatch(line); m != nil {
			pid, _ := strconv.Atoi(m[1])
			pids = append(pids, pid)
		}
	}
	return pids
}
