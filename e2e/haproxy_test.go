//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

// haproxyReplacements is how many replicas the rolling test replaces,
// one at a time.
const haproxyReplacements = 5

// TestHAProxyRollingReplacement puts HAProxy in front of three replicas
// of examples/reload (supervisor mode, as in a container) with HTTP
// health checks on the readiness path every 100ms, no retries and no
// redispatch, and replaces the replicas one at a time, five times, under
// wrk GET and POST load, as a rolling update of a Kubernetes Deployment
// does. Every answer must be a 200 with the expected body.
//
// A replica is stopped as Kubernetes stops a pod: SIGTERM, upon which its
// readiness endpoint answers 503 while it goes on serving for
// process.shutdownDelay. The delay is long (30s) and the test cuts it
// short with a second SIGTERM once HAProxy's stats say the replica is
// DOWN and no session is on it any more, so that no timing decides the
// verdict; in production the delay alone must cover the balancer's
// detection (here fall 1 x inter 100ms). Then the test waits for the
// replica to exit, starts a fresh one on the same port, and waits until
// HAProxy marks it UP before it replaces the next.
func TestHAProxyRollingReplacement(t *testing.T) {
	haproxy := needTool(t, "haproxy")
	wrk := needTool(t, "wrk")
	dir := t.TempDir()

	const n = 3
	ports := make([]int, n)
	replicas := make([]*subject, n)
	start := func(i int, gen int) *subject {
		return startSubject(t, subjectOptions{
			name: fmt.Sprintf("replica%d-gen%d", i, gen),
			addr: "127.0.0.1:" + strconv.Itoa(ports[i]),
			yaml: `process:
  mode: supervisor
  shutdownDelay: 30s
  readinessPath: /ready
  livenessPath: /live
log:
  level: warn
`,
			supervisor: true,
		})
	}
	for i := range n {
		ports[i] = freePort(t)
		replicas[i] = start(i, 0)
	}

	front := freePort(t)
	stats := filepath.Join(dir, "haproxy.sock")
	var servers strings.Builder
	for i, p := range ports {
		fmt.Fprintf(&servers, "    server r%d 127.0.0.1:%d check\n", i, p)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	writeFile(t, cfg, fmt.Sprintf(`global
    stats socket %s mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout check 5s
    retries 0
    no option redispatch

listen app
    bind 127.0.0.1:%d
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 100ms fall 1 rise 1
%s`, stats, front, servers.String()))
	hp := startGroup(t, "haproxy", []string{haproxy, "-db", "-f", cfg})
	st := &haproxyStats{t: t, sock: stats, g: hp}
	for i := range n {
		st.waitStatus(fmt.Sprintf("r%d", i), "UP")
	}
	url := "http://127.0.0.1:" + strconv.Itoa(front) + "/"
	if plainGetPID(url) == 0 {
		t.Fatalf("HAProxy does not answer\n%s", hp.Logs())
	}

	get := startWrk(t, wrk, "GET", url, wrkScript(t, dir, false))
	post := startWrk(t, wrk, "POST", url, wrkScript(t, dir, true))
	began := time.Now()
	var downWait, upWait time.Duration
	for k := range haproxyReplacements {
		i := k % n
		name := fmt.Sprintf("r%d", i)
		old := replicas[i]
		supervisor := readPID(old.pidFile)
		t0 := time.Now()
		old.g.Signal(supervisor, syscall.SIGTERM)
		st.waitStatus(name, "DOWN")
		st.waitIdle(name)
		downWait += time.Since(t0)
		// The balancer sends nothing more: skip the rest of the delay.
		old.g.Signal(supervisor, syscall.SIGTERM)
		if s := old.g.WaitFirst(60 * time.Second); s != "exit status 0" {
			t.Errorf("replica %d: %s after SIGTERM, want exit status 0\n%s", i, s, old.g.Logs())
		}
		old.checkGone()
		t1 := time.Now()
		replicas[i] = start(i, k+1)
		st.waitStatus(name, "UP")
		upWait += time.Since(t1)
	}
	took := time.Since(began)
	rg, rp := get.stop(t), post.stop(t)

	back := st.row("app", "BACKEND")
	t.Logf("haproxy rolling: wrk GET %d requests, %d wrong; wrk POST %d requests, %d wrong; %d replicas replaced in %s (SIGTERM to DOWN and idle: %s on average, start to UP: %s on average)",
		rg.requests, rg.wrong, rp.requests, rp.wrong, haproxyReplacements, took.Round(time.Millisecond),
		(downWait / haproxyReplacements).Round(time.Millisecond), (upWait / haproxyReplacements).Round(time.Millisecond))
	t.Logf("haproxy backend counters: %d sessions, 5xx %s, connection errors %s, response errors %s, retries %s, redispatches %s",
		atoiOr0(back["stot"]), back["hrsp_5xx"], back["econ"], back["eresp"], back["wretr"], back["wredis"])
	for _, k := range []string{"hrsp_5xx", "econ", "eresp", "wretr", "wredis"} {
		if v := atoiOr0(back[k]); v != 0 {
			t.Errorf("HAProxy's backend counts %s = %d, want 0", k, v)
		}
	}
	// The final stop: the second SIGTERM, once the readiness endpoint
	// answers 503, skips the delay.
	for i, r := range replicas {
		pid := readPID(r.pidFile)
		r.g.Signal(pid, syscall.SIGTERM)
		waitFor(t, "readiness to answer 503", 60*time.Second, func() bool {
			return statusOf("http://127.0.0.1:"+strconv.Itoa(ports[i])+"/ready") == 503
		}, r.g.Logs)
		r.g.Signal(pid, syscall.SIGTERM)
		if s := r.g.WaitFirst(60 * time.Second); s != "exit status 0" {
			t.Errorf("replica %d: %s after SIGTERM, want exit status 0\n%s", i, s, r.g.Logs())
		}
		r.checkGone()
	}
}

// statusOf returns the status of a GET on a new connection, 0 on error.
func statusOf(url string) int {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func atoiOr0(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

// haproxyStats reads HAProxy's "show stat" from its stats socket.
type haproxyStats struct {
	t    *testing.T
	sock string
	g    *proctest.Group
}

// all returns every row of "show stat", keyed by proxy and server name.
func (h *haproxyStats) all() (map[string]map[string]string, error) {
	c, err := net.DialTimeout("unix", h.sock, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var header []string
	rows := map[string]map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "# "); ok {
			header = strings.Split(h, ",")
			continue
		}
		if line == "" || header == nil {
			continue
		}
		f := strings.Split(line, ",")
		row := map[string]string{}
		for i, k := range header {
			if i < len(f) {
				row[k] = f[i]
			}
		}
		rows[row["pxname"]+"/"+row["svname"]] = row
	}
	if header == nil {
		return nil, fmt.Errorf("no header in show stat: %v", sc.Err())
	}
	return rows, sc.Err()
}

// row returns one row of the stats; it fails the test if there is none.
func (h *haproxyStats) row(proxy, server string) map[string]string {
	h.t.Helper()
	rows, err := h.all()
	if err != nil {
		h.t.Fatalf("HAProxy stats: %v\n%s", err, h.g.Logs())
	}
	r, ok := rows[proxy+"/"+server]
	if !ok {
		h.t.Fatalf("HAProxy stats have no row %s/%s", proxy, server)
	}
	return r
}

// waitStatus waits until HAProxy reports server's status as want (UP or
// DOWN).
func (h *haproxyStats) waitStatus(server, want string) {
	h.t.Helper()
	var last string
	waitFor(h.t, "HAProxy to mark "+server+" "+want, 60*time.Second, func() bool {
		if h.g.Exited() {
			h.t.Fatalf("HAProxy exited\n%s", h.g.Logs())
		}
		rows, err := h.all()
		if err != nil {
			return false // the socket is not there yet
		}
		last = rows["app/"+server]["status"]
		return last == want
	}, func() string { return "last status " + last + "\n" + h.g.Logs() })
}

// waitIdle waits until no session is on server: nothing HAProxy has sent
// it is still in flight.
func (h *haproxyStats) waitIdle(server string) {
	h.t.Helper()
	var last string
	waitFor(h.t, "no session on "+server, 60*time.Second, func() bool {
		last = h.row("app", server)["scur"]
		return last == "0"
	}, func() string { return "sessions " + last + "\n" + h.g.Logs() })
}
