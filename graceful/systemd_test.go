//go:build linux

package graceful

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notifySocket is a fake systemd notification socket.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, conn: conn, msgs: make(chan string, 64)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// next returns the next message, failing the test after a timeout.
func (n *notifySocket) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no sd_notify message within 20s")
		return ""
	}
}

// expect reads the next message and checks that it holds every line of
// want (in any order) and no other assignment.
func (n *notifySocket) expect(t *testing.T, want ...string) map[string]string {
	t.Helper()
	msg := n.next(t)
	got := map[string]string{}
	for line := range strings.SplitSeq(msg, "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	for _, w := range want {
		k, v, _ := strings.Cut(w, "=")
		gv, ok := got[k]
		if !ok || (v != "*" && gv != v) {
			t.Fatalf("sd_notify message %q: want %s", msg, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("sd_notify message %q: want exactly %v", msg, want)
	}
	return got
}

func monotonicNowUsec(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

func TestSdNotifySequence(t *testing.T) {
	ns := newNotifySocket(t)
	c := startCluster(t, clusterOptions{env: []string{"NOTIFY_SOCKET=" + ns.path, envTimeout + "=2s"}})
	ns.expect(t, "READY=1", "STATUS=serving (generation 1)")

	// A successful restart: RELOADING with the monotonic time from the
	// old process, READY from the new one, and MAINPID naming the new one
	// from the old one once its probation is over (here at once: the
	// cluster runs without one).
	before := monotonicNowUsec(t)
	gen2, _ := c.restart()
	m := ns.expect(t, "RELOADING=1", "MONOTONIC_USEC=*", "STATUS=starting generation 2")
	usec, err := strconv.ParseInt(m["MONOTONIC_USEC"], 10, 64)
	if err != nil || usec < before || usec > monotonicNowUsec(t) {
		t.Errorf("MONOTONIC_USEC=%q is not the monotonic clock at the time of the reload (between %d and now)", m["MONOTONIC_USEC"], before)
	}
	ns.expect(t, "READY=1", "STATUS=serving (generation 2)")
	ns.expect(t, fmt.Sprintf("MAINPID=%d", gen2))

	// A failed restart ends the reload with READY=1 from the same
	// process and says why.
	c.setBehaviour("crash")
	c.mustSignal(gen2, syscall.SIGHUP)
	ns.expect(t, "RELOADING=1", "MONOTONIC_USEC=*", "STATUS=starting generation 3")
	m = ns.expect(t, "READY=1", "STATUS=*")
	if !strings.Contains(m["STATUS"], "restart failed") {
		t.Errorf("STATUS after a failed restart: %q", m["STATUS"])
	}

	c.stop()
	ns.expect(t, "STOPPING=1")
	c.checkClean()
	select {
	case extra, ok := <-ns.msgs:
		if ok {
			t.Errorf("unexpected sd_notify message %q", extra)
		}
	default:
	}
}

func TestSocketActivationIsAdoptedAndHandedOver(t *testing.T) {
	f, bound := listeningFile(t, "127.0.0.1:0")
	addr := bound.String()

	c := startCluster(t, clusterOptions{addr: addr, role: "activate", files: []*os.File{f}})
	if n := c.logCount("socket ready", "from=systemd", "bound="+addr); n != 1 {
		t.Fatalf("generation 1 did not adopt the activated socket:\n%s", c.Output())
	}
	if env, err := c.get("/env"); err != nil || env != "" {
		t.Errorf("activation variables visible to the app: %q %v", env, err)
	}
	f.Close() // the service owns the socket now
	c.restart()
	if n := c.logCount("socket ready", "from=parent", "bound="+addr); n != 1 {
		t.Errorf("generation 2 did not inherit the activated socket from its parent")
	}
	c.stop()
	c.checkClean()
}

// TestSystemdSocketActivate runs the server under the real
// systemd-socket-activate, which binds the port and starts the server on
// the first connection.
func TestSystemdSocketActivate(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd): skipping the real socket-activation test; .ci/run installs it")
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// systemd-socket-activate passes on only the variables named with -E.
	c := startCluster(t, clusterOptions{addr: addr, noWait: true, wrap: func(argv, testEnv []string) []string {
		out := []string{tool, "-l", addr, "--fdname=web"}
		for _, kv := range testEnv {
			out = append(out, "-E", kv)
		}
		return append(out, argv...)
	}})
	// systemd-socket-activate starts the server on the first connection;
	// that connection waits in the socket's queue and is served.
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if body, err = c.get("/"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("first request through systemd-socket-activate: %v\n%s", err, c.Output())
	}
	pid := c.waitServingPID(0, 20*time.Second)
	if !strings.Contains(body, fmt.Sprintf("pid=%d ", pid)) {
		t.Errorf("first request answered %q, want pid=%d", body, pid)
	}
	c.record(pid)
	if n := c.logCount("socket ready", "from=systemd"); n != 1 {
		t.Fatalf("the server did not adopt the socket from systemd-socket-activate:\n%s", c.Output())
	}
	c.restart()
	c.stop()
	c.checkClean()
}

func TestBadHandoverEnvironmentFailsClearly(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"garbage", "not json", "not a valid handover description"},
		{"wrong version", `{"v":9,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[]}`, "version 9"},
		{"std stream", `{"v":4,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":1,"stderr_fd":4,"pipe_fd":5,"sockets":[]}`, "fd 1 (link): the descriptors of a handover are 3 to 6"},
		// Descriptors 3 to 5 exist in the child (the Go runtime's own, or
		// none): none of them came from exec.
		{"not passed", `{"v":4,"role":"process","generation":2,"ancestors":[{"pid":10,"lifeline":6}],"link_fd":3,"stderr_fd":4,"pipe_fd":5,"sockets":[]}`, "names descriptors this process was not given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envRole+"=server", envAddr+"=127.0.0.1:0", HandoverEnv+"="+tc.value)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the server started with a bad handover:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not explain %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestABadListenFDsIsAnErrorNotACrash: LISTEN_FDS that counts more
// descriptors than the process was passed is refused, naming the first
// one that was not passed (here one the Go runtime opened, or none).
// Before, go-systemd's activation.Files took every descriptor it named
// and the server closed them, the runtime's poller among them, and the
// process crashed ("fatal error: runtime: netpoll failed").
func TestABadListenFDsIsAnErrorNotACrash(t *testing.T) {
	f, _ := listeningFile(t, "127.0.0.1:0")
	for _, n := range []string{"2", "100000"} {
		t.Run(n, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envRole+"=activate", envAddr+"=127.0.0.1:0", envListenFds+"="+n)
			cmd.ExtraFiles = []*os.File{f} // fd 3, the one passed
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v:\n%s", err, out)
			}
			if want := "sockets passed by systemd: LISTEN_FDS=" + n + " names descriptors 3 to "; !strings.Contains(string(out), want) ||
				!strings.Contains(string(out), "fd 4 ") {
				t.Errorf("the error does not name LISTEN_FDS and fd 4:\n%s", out)
			}
		})
	}
}

// TestMismatchedActivatedSocketIsNamed: systemd passes a socket on all
// interfaces while the server asks for the loopback address on the same
// port; the bind fails, and the error names the passed socket.
func TestMismatchedActivatedSocketIsNamed(t *testing.T) {
	f, bound := listeningFile(t, ":0")
	port := bound.Port
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=activate", envAddr+"=127.0.0.1:"+strconv.Itoa(port))
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the server started on a socket it did not ask for:\n%s", out)
	}
	if !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), "inherited sockets that match no address the program asked for: [::]:"+strconv.Itoa(port)+" (web, from systemd)") {
		t.Errorf("the error does not name the passed socket:\n%s", out)
	}
}
