//go:build linux

package graceful

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

// waitExit waits for the first process of the cluster (the supervisor)
// to exit, and returns an error unless it exited with status 0.
func (c *cluster) waitExit(timeout time.Duration) error {
	c.t.Helper()
	if st := c.WaitFirst(timeout); st != "exit status 0" {
		return fmt.Errorf("the first process ended with %s", st)
	}
	return nil
}

func TestSupervisorRestartsUnderLoadLoseNothing(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	if supervisor != c.PGID {
		t.Fatalf("PID file names %d, want the supervisor %d", supervisor, c.PGID)
	}
	firstWorker := c.servingPID()
	if firstWorker == supervisor {
		t.Fatal("the supervisor serves requests itself")
	}
	// A worker serves before it reports ready, and lets go of the
	// descriptors of its start-up (its standard error to the supervisor)
	// just after: its own "ready" line says it has.
	waitReady := func(worker int) {
		c.waitLog(30*time.Second, "msg=ready", fmt.Sprintf("pid=%d ", worker), "role=worker")
	}
	waitReady(firstWorker)
	firstFds := withoutRuntimeFds(c.fds())
	stop := startLoad(c, 2)
	n := restartCount(t) / 2
	workers := map[int]bool{firstWorker: true}
	last := firstWorker
	for range n {
		pid, _ := c.restart()
		last = pid
		if workers[pid] {
			t.Fatalf("restart did not start a new worker (pid %d again)", pid)
		}
		workers[pid] = true
		if got := c.pidFromFile(); got != supervisor {
			t.Fatalf("PID file changed to %d: the supervisor's PID must stay %d", got, supervisor)
		}
	}
	requireNoFailures(t, stop())
	waitReady(last)
	if lastFds := withoutRuntimeFds(c.fds()); len(lastFds) != len(firstFds) {
		t.Errorf("worker descriptors: %d in the first worker, %d after %d restarts\nfirst:\n%s\nlast:\n%s",
			len(firstFds), len(lastFds), n, strings.Join(firstFds, "\n"), strings.Join(lastFds, "\n"))
	}
	c.mustSignal(supervisor, syscall.SIGTERM)
	if err := c.waitExit(30 * time.Second); err != nil {
		t.Errorf("supervisor exit after SIGTERM: %v, want status 0", err)
	}
	c.checkClean()
	if _, err := os.Stat(c.pidFile); !os.IsNotExist(err) {
		t.Errorf("PID file left after the final stop: %v", err)
	}
}

func TestSupervisorFailedWorkerKeepsOldServing(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		timeout   time.Duration
		reason    string
	}{
		{"crash", neverTimeout, "exited before it was ready: exit status 3"},
		{"hang", hangTimeout, "was not ready within the upgrade timeout of " + hangTimeout.String()},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			c := startCluster(t, clusterOptions{mode: RestartModeSupervisor, env: []string{envTimeout + "=" + tc.timeout.String()}})
			supervisor := c.pidFromFile()
			worker := c.servingPID()
			stop := startLoad(c, 1)
			c.setBehaviour(tc.behaviour)
			c.mustSignal(supervisor, syscall.SIGHUP)
			waitFor(t, "the restart to fail", 20*time.Second, func() bool {
				return c.logCount("restart failed; still serving", tc.reason) == 1
			})
			if got := c.bodyPID(); got != worker {
				t.Fatalf("answers come from %d after a failed restart, want the old worker %d", got, worker)
			}
			for _, pid := range c.failedChildren() {
				if st := procState(pid); st != "" {
					t.Errorf("failed worker %d still exists (state %s)", pid, st)
				}
			}
			c.setBehaviour("ok")
			c.restart()
			requireNoFailures(t, stop())
			c.stopSupervisor(supervisor)
		})
	}
}

func TestSupervisorReplacesAWorkerThatDies(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	worker := c.servingPID()
	c.mustSignal(worker, syscall.SIGKILL)
	// While no worker accepts, connections wait in the socket's queue:
	// this request is answered by the replacement.
	body, err := c.get("/")
	if err != nil || strings.Contains(body, fmt.Sprintf("pid=%d ", worker)) {
		t.Fatalf("request after the worker died: %q %v", body, err)
	}
	next := c.bodyPID()
	c.record(next)
	if c.logCount("the serving worker exited", fmt.Sprintf("worker_pid=%d", worker)) != 1 {
		t.Errorf("the supervisor did not log the dead worker")
	}
	c.stopSupervisor(supervisor)
}

// TestSupervisorAsPID1ReapsOrphans runs the supervisor as PID 1 of a new
// PID namespace, as in a container, and makes its worker leave orphans.
func TestSupervisorAsPID1ReapsOrphans(t *testing.T) {
	probe := exec.Command("/bin/true")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := probe.Run(); err != nil {
		t.Skipf("cannot create a PID namespace here (%v): skipping the PID 1 test", err)
	}
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor, cloneflags: syscall.CLONE_NEWPID, noWait: true})
	c.waitServingPID(0, 20*time.Second)
	if got := c.pidFromFile(); got != 1 {
		t.Fatalf("the supervisor's PID in its namespace is %d, want 1", got)
	}
	host := c.PGID
	for range 5 {
		if _, err := c.get("/orphan"); err != nil {
			t.Fatal(err)
		}
	}
	// The orphans' sleep (50ms) ends; PID 1 must reap them.
	waitFor(t, "the orphans to be reaped", 10*time.Second, func() bool {
		for _, pid := range childrenOf(host) {
			if procState(pid) == "Z" {
				return false
			}
		}
		return c.logCount("reaped an orphan") >= 5
	})
	if err := syscall.Kill(host, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.waitExit(30 * time.Second); err != nil {
		t.Errorf("supervisor as PID 1: %v, want exit status 0", err)
	}
	c.checkClean()
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := proctest.ReadStat(p); ok && st.PPID == pid {
			out = append(out, p)
		}
	}
	return out
}

// TestSupervisorKeepsReplacingWorkers: the serving worker dies while its
// replacements cannot start (a broken release); the supervisor goes on
// trying, with back-off, and serves again once a release starts.
func TestSupervisorKeepsReplacingWorkers(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	worker := c.servingPID()
	c.setBehaviour("crash")
	c.mustSignal(worker, syscall.SIGKILL)
	waitFor(t, "two failed replacements", 30*time.Second, func() bool {
		return c.logCount("no worker serves; starting another", "the new worker did not start") >= 2
	})
	c.setBehaviour("ok")
	next := c.waitServingPID(worker, 60*time.Second)
	c.record(next)
	c.stopSupervisor(supervisor)
}

// TestSupervisorFollowsAnAddressChange: a release that serves on another
// address takes over; the old address is released, not left listening
// with nobody accepting, and later restarts work.
func TestSupervisorFollowsAnAddressChange(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	oldAddr := c.addr
	newAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.setBehaviour("addr=" + newAddr)
	oldWorker := c.servingPID()
	c.mustSignal(supervisor, syscall.SIGHUP)
	c.addr = newAddr
	c.record(c.waitServingPID(oldWorker, 30*time.Second))
	c.WaitGone(oldWorker, 30*time.Second)
	waitFor(t, "the old address to be released", 30*time.Second, func() bool {
		conn, err := net.Dial("tcp", oldAddr)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	c.restart() // on the new address, inherited
	if n := c.logCount("address already in use"); n != 0 {
		t.Errorf("%d binds failed", n)
	}
	c.stopSupervisor(supervisor)
}

// TestUnitSupervisorKeepsNoDescriptorOfADeadWorker: once the worker
// started after the serving one died is ready, the supervisor holds its
// sockets and lets go of those the dead worker had passed. It used to
// keep them: one more descriptor of every socket for each death, and an
// address no worker serves any more bound in it for good.
func TestUnitSupervisorKeepsNoDescriptorOfADeadWorker(t *testing.T) {
	sys := newFakeSystem()
	logs := &syncBuffer{}
	_, code := unitSupervisor(t, sys, logs, nil)
	w1 := <-sys.children
	ln := listenLoopback(t)
	addr := ln.Addr().String()
	w1.readyWorker(t, nil, nil, ln)
	inode := socketInode(ln)
	if inode == "" {
		t.Fatal("no inode for the test's listener")
	}
	_ = ln.Close()
	waitFor(t, "the supervisor to serve", 5*time.Second, func() bool { return strings.Contains(logs.String(), "msg=ready") })
	w1.exit("signal: killed")
	w2 := <-sys.children
	w2.readyWorker(t, nil, nil)
	// systemd is told the worker serves once the supervisor holds its
	// sockets (the "is ready" log line comes before).
	waitFor(t, "the supervisor to take the second worker's sockets", 5*time.Second, func() bool {
		return strings.Contains(sys.lastNote(), "serving (worker 2,")
	})
	// This process is the supervisor and the fake workers: one descriptor
	// is w2's, one the supervisor's.
	if n := descriptorsOf(inode); n != 2 {
		t.Errorf("%d descriptors of the socket on %s are open, want 2 (the serving worker's and the supervisor's)", n, addr)
	}
	stopSupervisor(t, sys, code, w2)
	if n := descriptorsOf(inode); n != 0 {
		t.Errorf("%d descriptors of the socket on %s are open after the stop, want 0", n, addr)
	}
}

// TestResumedSupervisorReapsTheWorkersItWasNotHanded: a worker that was
// exiting when the supervisor executed its new image (its link already
// closed) is not handed to that image, but it is the supervisor's child
// still: the new image reaps it, whether it has exited already or exits
// later, and says how it ended. Before, it stayed a zombie for as long as
// the supervisor lived (unless the supervisor was PID 1).
func TestResumedSupervisorReapsTheWorkersItWasNotHanded(t *testing.T) {
	start := func(argv ...string) int {
		t.Helper()
		pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil) // ECHILD once reaped
		})
		return pid
	}
	exited := start("/bin/sh", "-c", "exit 3")
	waitFor(t, "the first worker to exit", 10*time.Second, func() bool { return procState(exited) == "Z" })
	running := start("/bin/sleep", "60")

	var logs syncBuffer
	cfg := DefaultProcessConfig()
	cfg.Mode = RestartModeSupervisor
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	p, err := newProcess(cfg, osSystem{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.sys.stopSignals(p.sigCh) })
	st := supervisorState{Secret: make([]byte, secretSize), Exiting: []int{exited, running}}
	if _, _, err := p.resumeSupervisor(newLifecycle(p), st, nil); err != nil {
		t.Fatal(err)
	}
	if s := procState(exited); s != "" {
		t.Errorf("the worker that had exited is still there (state %s) after the new image started", s)
	}
	want := fmt.Sprintf("worker_pid=%d status=\"exit status 3\"", exited)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say %s:\n%s", want, logs.String())
	}
	if err := syscall.Kill(running, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("worker_pid=%d status=\"signal: terminated\"", running)
	waitFor(t, "the new image to reap the worker that was running", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), want)
	})
	if s := procState(running); s != "" {
		t.Errorf("the worker that was running is still there (state %s) once reaped", s)
	}
}

// TestSupervisorWritesItsPIDFileAgainAtARestart: the supervisor writes
// its PID file once, at its start; one that has since been removed or
// overwritten names the supervisor again after the next restart, and the
// log says so. Before, it stayed missing or wrong for the supervisor's
// life, while every restart succeeded.
func TestSupervisorWritesItsPIDFileAgainAtARestart(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	for i, damage := range []func() error{
		func() error { return os.Remove(c.pidFile) },
		func() error { return os.WriteFile(c.pidFile, []byte("garbage\n"), 0o644) },
	} {
		old := c.servingPID()
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		c.mustSignal(supervisor, syscall.SIGHUP)
		c.record(c.waitServingPID(old, 30*time.Second))
		waitFor(t, "the PID file to name the supervisor again", 30*time.Second, func() bool {
			return c.pidFromFile() == supervisor
		})
		c.waitLog(10*time.Second, "the PID file no longer named the supervisor: written again")
		if n := c.logCount("the PID file no longer named the supervisor: written again"); n != i+1 {
			t.Errorf("%d log lines say the PID file was written again, want %d", n, i+1)
		}
		c.WaitGone(old, 30*time.Second)
	}
	c.stopSupervisor(supervisor)
}
