package graceful

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHolder starts a process that lives a minute, in a process group of
// its own, holding w if w is not nil; the test ends it.
func startHolder(t *testing.T, w *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if w != nil {
		cmd.ExtraFiles = []*os.File{w}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep(1) to stand for an older generation: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	return cmd
}

// TestUnitAnOlderGenerationThatOutlivesTheWaitIsKilled: an older
// generation still holding its lifeline once the newest one's wait for
// it is over (stopped, wedged) is killed if its own drain limit has
// passed; one whose drain has no bound, and a PID that names a process
// not holding that lifeline, are left alone.
func TestUnitAnOlderGenerationThatOutlivesTheWaitIsKilled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ancestor := startHolder(t, w) // holds the lifeline's write end
	_ = w.Close()
	stranger := startHolder(t, nil)
	var logs bytes.Buffer
	for _, c := range []struct {
		name   string
		pid    int
		limit  time.Duration
		killed bool
	}{
		{"a PID that does not hold the lifeline", stranger.Process.Pid, 5 * time.Millisecond, false},
		{"an older generation whose drain has no bound", ancestor.Process.Pid, 0, false},
		{"the older generation", ancestor.Process.Pid, 5 * time.Millisecond, true},
	} {
		fd, err := dupFd(int(r.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		lin := newLineage()
		lin.watchAncestors([]*lifeline{{pid: c.pid, generation: 1, fd: fd, gone: make(chan struct{}), limit: c.limit}})
		p := &Process{role: RoleProcess, logger: captureLogger(t, &logs), sys: newFakeSystem(), lineage: lin}
		p.awaitAncestors(10 * time.Millisecond)
		err = syscall.Kill(c.pid, 0)
		alive := err == nil
		if c.killed {
			// Killed: its group's reaper (the goroutine in startHolder)
			// makes it go.
			waitFor(t, "the older generation to be gone", 5*time.Second, func() bool { return syscall.Kill(c.pid, 0) != nil })
		} else if !alive {
			t.Errorf("%s (%d) was killed", c.name, c.pid)
		}
	}
	if out := logs.String(); !strings.Contains(out, "killed it") || !strings.Contains(out, "does not hold the lifeline") || !strings.Contains(out, "exiting without it") {
		t.Errorf("log:\n%s", logs.String())
	}
}
