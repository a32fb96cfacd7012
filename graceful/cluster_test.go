//go:build linux

package graceful

import (
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
	"golang.org/x/sys/unix"
)

// cluster is a service under test: the generations of the server role
// that replace each other on restart, all in one process group (see
// proctest.Group), so that the test kills and reaps all of them whatever
// happens. It knows every PID that served.
type cluster struct {
	*proctest.Group
	t       *testing.T
	dir     string
	addr    string
	pidFile string
	bfile   string // behaviour file read by each generation at start-up
	gates   string // directory of the gates that handlers and start-ups wait on
	// supervisor: the PID file names a supervisor whose workers serve,
	// so the serving PID comes from the answers, not the PID file.
	supervisor bool
	mu         sync.Mutex
	seen       []int // every PID that served, in order
}

type clusterOptions struct {
	addr  string
	env   []string
	files []*os.File // extra files for the first generation
	role  string     // "server" by default
	mode  RestartMode
	exe   string // the binary of the first generation; the test binary by default
	// wrap, when set, returns the command line that starts the server's
	// command line argv with the test's environment variables testEnv
	// (systemd-socket-activate, say).
	wrap func(argv, testEnv []string) []string
	// cloneflags for the first process (CLONE_NEWPID makes it PID 1).
	cloneflags uintptr
	// noWait: do not wait for a serving process at start (the test does).
	noWait bool
}

// startCluster starts the first generation and waits until it serves.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{
		t:       t,
		dir:     dir,
		addr:    o.addr,
		pidFile: filepath.Join(dir, "server.pid"),
		bfile:   filepath.Join(dir, "behaviour"),
		gates:   filepath.Join(dir, "gates"),
	}
	if err := os.Mkdir(c.gates, 0o700); err != nil {
		t.Fatal(err)
	}
	c.supervisor = o.mode == RestartModeSupervisor
	if o.mode != "" {
		o.env = append(o.env, envMode+"="+string(o.mode))
	}
	if c.addr == "" {
		c.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	c.setBehaviour("ok")
	role := o.role
	if role == "" {
		role = "server"
	}
	exe := o.exe
	if exe == "" {
		exe = os.Args[0]
	}
	argv := []string{exe, "-test.run=^$"}
	testEnv := append([]string{
		envRole + "=" + role,
		envAddr + "=" + c.addr,
		envPIDFile + "=" + c.pidFile,
		envBehaviour + "=" + c.bfile,
		envGates + "=" + c.gates,
	}, o.env...)
	if o.wrap != nil {
		argv = o.wrap(argv, testEnv)
	}
	env := append(os.Environ(), testEnv...)
	c.Group = proctest.Start(t, proctest.Options{Name: role, Argv: argv, Env: env, Files: o.files, Cloneflags: o.cloneflags})
	if !o.noWait {
		c.record(c.waitServingPID(0, 30*time.Second))
	}
	return c
}

func (c *cluster) setBehaviour(b string) {
	c.t.Helper()
	if err := os.WriteFile(c.bfile, []byte(b), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// gate makes a named gate: a FIFO that the server role's gated handlers
// and start-ups wait on (see waitGate) until the test opens it. It returns
// the function that opens the gate, for good: the test holds a writer on
// the FIFO from then on, so that every open for reading, before or after,
// returns at once.
// waitAtGate waits until a process waits at the gate, and returns its
// PID.
func (c *cluster) waitAtGate(name string, timeout time.Duration) int {
	c.t.Helper()
	var pid int
	waitFor(c.t, "a process at gate "+name, timeout, func() bool {
		b, err := os.ReadFile(filepath.Join(c.gates, name+".waiting"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	})
	return pid
}

func (c *cluster) gate(name string) (open func()) {
	c.t.Helper()
	path := filepath.Join(c.gates, name)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		c.t.Fatal(err)
	}
	var once sync.Once
	var w *os.File
	open = func() {
		once.Do(func() {
			// O_RDWR never blocks on a FIFO, and counts as a writer.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				c.t.Errorf("open gate %s: %v", name, err)
				return
			}
			w = f
		})
	}
	c.t.Cleanup(func() {
		if w != nil {
			_ = w.Close()
		}
	})
	return open
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

// bodyPID asks who serves, 0 when nobody answers.
func (c *cluster) bodyPID() int {
	body, err := c.get("/")
	if err != nil {
		return 0
	}
	m := pidInBody.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

var pidInBody = regexp.MustCompile(`pid=(\d+) `)

// waitServingPID waits until a process other than not answers requests
// and, outside supervisor mode, the PID file names it. It returns the
// serving PID.
func (c *cluster) waitServingPID(not int, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		filePID := c.pidFromFile()
		if pid := c.bodyPID(); pid != 0 && pid != not && filePID != 0 && (c.supervisor || pid == filePID) {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no new serving process within %s (PID file says %d)\nlogs:\n%s", timeout, c.pidFromFile(), c.Output())
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
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
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
	waitFor(c.t, fmt.Sprintf("%d requests in flight", n), 20*time.Second, func() bool {
		body, err := c.get("/inflight")
		got, _ := strconv.Atoi(strings.TrimSpace(body))
		return err == nil && got-1 >= n
	})
}

// mustSignal sends sig to pid, which must be running.
func (c *cluster) mustSignal(pid int, sig syscall.Signal) {
	c.t.Helper()
	if !c.Signal(pid, sig) {
		c.t.Fatalf("signal %v to %d: the process is not running\nlogs:\n%s", sig, pid, c.Output())
	}
}

// restart asks the serving generation to restart and waits until its
// successor serves and the old process has exited. It returns the new PID
// and the time from the signal to the successor's first answer.
func (c *cluster) restart() (int, time.Duration) {
	c.t.Helper()
	old := c.servingPID()
	begin := time.Now()
	c.mustSignal(c.pidFromFile(), syscall.SIGHUP)
	pid := c.waitServingPID(old, 30*time.Second)
	took := time.Since(begin)
	c.record(pid)
	c.WaitGone(old, 30*time.Second)
	return pid, took
}

// servingPID is the PID that answers requests now.
func (c *cluster) servingPID() int {
	c.t.Helper()
	if !c.supervisor {
		return c.pidFromFile()
	}
	return c.waitServingPID(0, 10*time.Second)
}

// stop sends SIGTERM to the process the PID file names and waits for it
// to exit.
func (c *cluster) stop() {
	c.t.Helper()
	pid := c.pidFromFile()
	if pid == 0 {
		c.t.Fatal("no serving process to stop")
	}
	c.mustSignal(pid, syscall.SIGTERM)
	c.WaitGone(pid, 30*time.Second)
}

// stopSupervisor sends SIGTERM to the supervisor, expects it to exit 0,
// and checks that nothing of the cluster is left.
func (c *cluster) stopSupervisor(pid int) {
	c.t.Helper()
	c.mustSignal(pid, syscall.SIGTERM)
	if err := c.waitExit(30 * time.Second); err != nil {
		c.t.Errorf("supervisor exit: %v", err)
	}
	c.checkClean()
}

// checkClean fails the test if a process of the cluster still runs or a
// process of it left a zombie unreaped.
func (c *cluster) checkClean() {
	c.t.Helper()
	c.CheckEmpty(10 * time.Second)
}

// logCount counts log lines that contain all the given fragments.
func (c *cluster) logCount(fragments ...string) int {
	n := 0
	for line := range strings.SplitSeq(c.Output(), "\n") {
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

// waitLog waits until a log line holds all the fragments.
func (c *cluster) waitLog(timeout time.Duration, fragments ...string) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("a log line with %q", fragments), timeout, func() bool { return c.logCount(fragments...) > 0 })
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

// procState is the state letter of a process ("R", "S", "Z", ...), or ""
// when it no longer exists.
func procState(pid int) string {
	st, _ := proctest.ReadStat(pid)
	return st.State
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
	for line := range strings.SplitSeq(c.Output(), "\n") {
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
