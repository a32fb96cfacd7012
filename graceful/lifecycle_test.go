//go:build linux

package graceful

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInheritedDescriptorsDoNotLeak: descriptors the first generation got
// from whoever started it without close-on-exec (a shell's 7<file, a pipe)
// stay usable in it but never reach the next generation, which gets only
// the handover's.
func TestInheritedDescriptorsDoNotLeak(t *testing.T) {
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "somefile")
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			c := startCluster(t, clusterOptions{mode: mode, files: []*os.File{f, r}})
			// Every descriptor without close-on-exec (beyond 0, 1, 2).
			leaked := func() []string {
				var out []string
				for _, l := range c.fds() {
					if strings.Contains(l, " inherit ") {
						out = append(out, l)
					}
				}
				return out
			}
			if mode == RestartModeReexec {
				if l := strings.Join(leaked(), "\n"); !strings.Contains(l, path) || !strings.Contains(l, "pipe:") {
					t.Fatalf("the first generation holds\n%s\nwant the file and the pipe it was started with", l)
				}
			}
			for range 2 {
				c.restart()
				if l := leaked(); len(l) != 0 {
					t.Errorf("generation serving now holds descriptors it was not handed over: %v", l)
				}
			}
			c.stop()
			c.checkClean()
		})
	}
}

// TestStoppedNewGenerationIsRolledBack: a new generation that stops
// answering after it became ready (SIGSTOP) within the probation is
// killed, and the old one serves again, within livenessTimeout and a
// beat; connections queued meanwhile are answered.
func TestStoppedNewGenerationIsRolledBack(t *testing.T) {
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		t.Run(string(mode), func(t *testing.T) {
			c := startCluster(t, clusterOptions{mode: mode, env: []string{envProbation + "=1m"}})
			old := c.servingPID()
			c.mustSignal(c.pidFromFile(), syscall.SIGHUP)
			next := c.waitServingPID(old, 30*time.Second)
			c.record(next)
			c.mustSignal(next, syscall.SIGSTOP)
			begin := time.Now()
			// A request queued while nobody accepts: the old generation
			// answers it once it serves again.
			waitFor(t, "the old generation to serve again", livenessTimeout+30*time.Second, func() bool {
				return c.bodyPID() == old
			})
			took := time.Since(begin)
			t.Logf("%s: rolled back %s after the new generation stopped", mode, took.Round(time.Millisecond))
			c.WaitGone(next, 30*time.Second)
			c.stop()
			c.checkClean()
		})
	}
}

// TestPausedOldGenerationKeepsItsSuccessor: the process that watches a
// probation (the old generation, or the supervisor) paused for longer
// than livenessTimeout (SIGSTOP here; a frozen cgroup, or starved of
// CPU) does not take its own silence for the successor's: the successor,
// which answered every ping it got, serves on. It used to be killed at
// the first tick after the pause, and the requests it had in flight lost.
func TestPausedOldGenerationKeepsItsSuccessor(t *testing.T) {
	for _, mode := range []RestartMode{RestartModeReexec, RestartModeSupervisor} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel() // two clusters of their own, each waiting out a pause
			c := startCluster(t, clusterOptions{mode: mode, env: []string{envProbation + "=3s"}})
			old := c.servingPID()
			watcher := c.pidFromFile() // the old generation, or the supervisor
			c.mustSignal(watcher, syscall.SIGHUP)
			next := c.waitServingPID(old, 30*time.Second)
			c.record(next)
			c.mustSignal(watcher, syscall.SIGSTOP)
			time.Sleep(livenessTimeout + 300*time.Millisecond) // the fault: a pause this long
			c.mustSignal(watcher, syscall.SIGCONT)
			waitFor(t, "the probation to end, or the successor to be killed", 30*time.Second, func() bool {
				return c.logCount("probation over") > 0 || c.logCount("killing it to roll back") > 0
			})
			if n := c.logCount("killing it to roll back"); n != 0 {
				t.Fatalf("the successor was killed for the watcher's own pause:\n%s", c.Output())
			}
			if pid := c.bodyPID(); pid != next {
				t.Fatalf("answered by pid %d after the pause, want the successor %d", pid, next)
			}
			c.stop()
			c.checkClean()
		})
	}
}

// TestSupervisorAddressChangeFreesTheOldAddressAtOnce: a restart that
// moves the service from P to Q leaves nothing listening on P during the
// probation (no connection accepted there and left hanging), and a
// restart back to P within the probation binds it.
func TestSupervisorAddressChangeFreesTheOldAddressAtOnce(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor, env: []string{envProbation + "=1m"}})
	supervisor := c.pidFromFile()
	addrP := c.addr
	addrQ := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.setBehaviour("addr=" + addrQ)
	first := c.servingPID()
	c.mustSignal(supervisor, syscall.SIGHUP)
	c.addr = addrQ
	c.record(c.waitServingPID(first, 30*time.Second))
	waitFor(t, "P to refuse connections", 30*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", addrP, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	// Back to P, within the probation of the first worker.
	c.setBehaviour("addr=" + addrP)
	second := c.servingPID()
	c.mustSignal(supervisor, syscall.SIGHUP)
	c.addr = addrP
	c.record(c.waitServingPID(second, 30*time.Second))
	if n := c.logCount("address already in use"); n != 0 {
		t.Errorf("%d binds failed", n)
	}
	c.stopSupervisor(supervisor)
}

// TestSupervisorTakesNewSettingsAtARestart: a restart whose new
// configuration changes the supervisor's own settings (JSON logs, another
// restart signal) makes the supervisor execute itself again, in place:
// same PID, its log lines JSON from then on, and the new signal restarts.
func TestSupervisorTakesNewSettingsAtARestart(t *testing.T) {
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor})
	supervisor := c.pidFromFile()
	c.setBehaviour("json signal=SIGUSR1")
	first := c.servingPID()
	c.mustSignal(supervisor, syscall.SIGHUP)
	second := c.waitServingPID(first, 30*time.Second)
	c.record(second)
	c.waitLog(30*time.Second, `"msg":"the supervisor runs its new image"`, fmt.Sprintf(`"pid":%d`, supervisor))
	if got := c.pidFromFile(); got != supervisor {
		t.Fatalf("the PID file says %d after the supervisor's exec, want %d", got, supervisor)
	}
	c.mustSignal(supervisor, syscall.SIGUSR1) // the new restart signal
	c.record(c.waitServingPID(second, 30*time.Second))
	c.stopSupervisor(supervisor)
}

// TestSupervisorUpgradeUnderLoadLosesNothing: a new binary installed at
// the supervisor's path, then a restart, ten times under load from
// clients that never retry: the supervisor executes the new binary in
// place each time (its PID stays), and no request is lost, no connection
// refused.
func TestSupervisorUpgradeUnderLoadLosesNothing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	copyFile(t, os.Args[0], bin)
	c := startCluster(t, clusterOptions{mode: RestartModeSupervisor, exe: bin})
	supervisor := c.pidFromFile()
	stop := startLoad(c, 2)
	const upgrades = 10
	for i := 1; i <= upgrades; i++ {
		copyFile(t, os.Args[0], bin) // a new deployment: a new file at the path
		old := c.servingPID()
		c.mustSignal(supervisor, syscall.SIGHUP)
		c.record(c.waitServingPID(old, 30*time.Second))
		waitFor(t, "the supervisor's new image", 30*time.Second, func() bool {
			return c.logCount("the supervisor runs its new image", fmt.Sprintf("pid=%d ", supervisor)) == i
		})
		c.WaitGone(old, 30*time.Second)
	}
	r := stop()
	requireNoFailures(t, r)
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/exe", supervisor), &st); err != nil {
		t.Fatal(err)
	}
	var deployed syscall.Stat_t
	if err := syscall.Stat(bin, &deployed); err != nil {
		t.Fatal(err)
	}
	if st.Ino != deployed.Ino {
		t.Errorf("the supervisor runs inode %d, not the last binary deployed (inode %d)", st.Ino, deployed.Ino)
	}
	if got := c.pidFromFile(); got != supervisor {
		t.Errorf("the supervisor's PID changed: %d, then %d", supervisor, got)
	}
	c.stopSupervisor(supervisor)
}
