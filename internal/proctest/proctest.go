//go:build linux

// Package proctest runs the process trees of real-process tests: each
// tree in a process group of its own, reaped entirely when the test ends,
// so that one test can never leave a process or a zombie to the next.
//
// A test binary that uses it should call BecomeSubreaper in TestMain: an
// old generation that hands over exits, its successor is orphaned, and the
// kernel re-parents it to the test process, whose Group reaps it.
package proctest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// BecomeSubreaper makes the calling process the reaper of the processes
// its descendants orphan (PR_SET_CHILD_SUBREAPER). Only a test runner
// calls it, never a process under test.
func BecomeSubreaper() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// Options describe the first process of a group.
type Options struct {
	// Name names the group in failure messages; the base of Argv[0] when
	// empty.
	Name string
	// Argv is the command line; Argv[0] is looked up in PATH when it has
	// no slash.
	Argv []string
	// Env is the environment of the first process.
	Env []string
	// Files are extra open files, from fd 3 on.
	Files []*os.File
	// Cloneflags are passed to clone(2), e.g. CLONE_NEWPID.
	Cloneflags uintptr
	// LogDir, when set, sends standard output and error of every member to
	// a new file in that directory, which outlives the test. Otherwise
	// they go through a pipe into memory, and the cleanup checks that no
	// member is left holding the pipe.
	LogDir string
}

// Group is the tree of processes one test starts: its first process leads
// a process group of its own, and every process the tree starts stays in
// it. The reaper waits only for members (wait4 with -pgid), so it never
// takes the exit status of another test's process or of an exec.Cmd, and
// the cleanup kills the whole group and reaps it until no member is left.
//
// On a failed test the cleanup first sends SIGQUIT to the group, so that
// every Go process prints its goroutines, and logs the group's output.
type Group struct {
	// PGID is the process group, also the PID of the first process.
	PGID int

	t       testing.TB
	name    string
	logFile string      // when output goes to a file
	output  *syncBuffer // when output goes through a pipe
	copied  chan struct{}

	first chan string // the first process's exit status, once
	stop  chan struct{}
	done  chan struct{}
}

// Start starts the first process of a new process group with standard
// input from /dev/null. The test's cleanup kills and reaps the whole
// group.
func Start(t testing.TB, o Options) *Group {
	t.Helper()
	path, err := exec.LookPath(o.Argv[0])
	if err != nil {
		t.Fatal(err)
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(o.Argv[0])
	}
	g := &Group{
		t:     t,
		name:  name,
		first: make(chan string, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var out, pipeR *os.File
	if o.LogDir != "" {
		g.logFile = filepath.Join(o.LogDir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
		if out, err = os.Create(g.logFile); err != nil {
			t.Fatal(err)
		}
	} else if pipeR, out, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess(path, o.Argv, &os.ProcAttr{
		Env:   o.Env,
		Files: append([]*os.File{devnull, out, out}, o.Files...),
		Sys:   &syscall.SysProcAttr{Setpgid: true, Cloneflags: o.Cloneflags},
	})
	_ = out.Close()
	if err != nil {
		if pipeR != nil {
			_ = pipeR.Close()
		}
		t.Fatalf("start %s: %v", name, err)
	}
	g.PGID = p.Pid
	_ = p.Release() // the group's reaper waits for it
	if pipeR != nil {
		g.output = &syncBuffer{}
		g.copied = make(chan struct{})
		go func() {
			defer close(g.copied)
			defer pipeR.Close()
			_, _ = io.Copy(g.output, pipeR)
		}()
	}
	go g.reapLoop()
	t.Cleanup(g.cleanup)
	return g
}

// Name is the group's name in failure messages.
func (g *Group) Name() string { return g.name }

// Output returns what the members wrote to standard output and error so
// far: everything they wrote, once none of them is alive.
func (g *Group) Output() string {
	if g.output != nil {
		if g.copied != nil && len(g.LivePIDs()) == 0 {
			// The last bytes may still be in the pipe; it ends when the
			// last writer has exited (a process outside the group that
			// holds it is reported by cleanup).
			select {
			case <-g.copied:
			case <-time.After(5 * time.Second):
			}
		}
		return g.output.String()
	}
	b, _ := os.ReadFile(g.logFile)
	return string(b)
}

// Logs returns Output under a header naming the group, for failure
// messages.
func (g *Group) Logs() string {
	return fmt.Sprintf("--- output of %s (process group %d):\n%s", g.name, g.PGID, g.Output())
}

// reapLoop collects every member that exits, woken by SIGCHLD; the ticker
// only covers a SIGCHLD coalesced with another's.
func (g *Group) reapLoop() {
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

// reapNow reaps every member that has exited, without blocking.
func (g *Group) reapNow() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-g.PGID, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return // nothing more now (0), or no child in the group (ECHILD)
		}
		if pid == g.PGID {
			g.first <- StatusString(ws)
		}
	}
}

// StatusString describes a wait status as os/exec does: "exit status 1",
// "signal: killed".
func StatusString(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// WaitFirst waits for the first process to exit and returns its status
// ("exit status 0", "signal: killed", ...); it fails the test after
// timeout.
func (g *Group) WaitFirst(timeout time.Duration) string {
	g.t.Helper()
	select {
	case s := <-g.first:
		g.first <- s // later callers see it too
		return s
	case <-time.After(timeout):
		g.t.Fatalf("%s (pid %d) did not exit within %s\n%s", g.name, g.PGID, timeout, g.Logs())
		return ""
	}
}

// Exited reports whether the first process has exited and been reaped.
func (g *Group) Exited() bool {
	select {
	case s := <-g.first:
		g.first <- s
		return true
	default:
		return false
	}
}

// Member is a process of the group as /proc shows it.
type Member struct {
	PID, PPID int
	State     string // "R", "S", "Z", ...
}

// Members returns the processes of the group that still exist, zombies
// included (a zombie keeps its process group), by PID.
func (g *Group) Members() []Member {
	var out []Member
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.PGRP == g.PGID {
			out = append(out, Member{PID: pid, PPID: st.PPID, State: st.State})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// LivePIDs returns the members that run (not zombies).
func (g *Group) LivePIDs() []int {
	var pids []int
	for _, m := range g.Members() {
		if m.State != "Z" {
			pids = append(pids, m.PID)
		}
	}
	return pids
}

// Alive reports whether pid is a running member: not reaped, not a
// zombie. kill(pid, 0) cannot tell, since it succeeds on a zombie.
func (g *Group) Alive(pid int) bool {
	st, ok := ReadStat(pid)
	return ok && st.PGRP == g.PGID && st.State != "Z"
}

// Signal sends sig to a member. A member that has exited already (which a
// generation does once it has handed over) is not an error: it reports
// false. Any other failure fails the test.
func (g *Group) Signal(pid int, sig syscall.Signal) bool {
	g.t.Helper()
	if pid <= 1 {
		g.t.Fatalf("refusing to send %v to PID %d (kill(2) reads it as a group)", sig, pid)
	}
	if !g.Alive(pid) {
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

// WaitGone waits until pid no longer runs; it fails the test after
// timeout.
func (g *Group) WaitGone(pid int, timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for g.Alive(pid) {
		if time.Now().After(deadline) {
			g.t.Fatalf("process %d still running after %s\n%s", pid, timeout, g.Logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckEmpty fails the test when a member still runs after timeout, or is
// a zombie that its living parent does not reap: the process that started
// it leaked it. Zombies re-parented to the test are the reaper's and do
// not count.
func (g *Group) CheckEmpty(timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, m := range g.Members() {
			if m.State == "Z" && m.PPID == os.Getpid() {
				continue
			}
			left = append(left, fmt.Sprintf("%d (state %s, parent %d)", m.PID, m.State, m.PPID))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Errorf("processes left behind: %s\n%s", strings.Join(left, ", "), g.Logs())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanup kills the whole group and reaps every member, so that nothing
// outlives the test, whatever it did.
func (g *Group) cleanup() {
	if g.t.Failed() && len(g.LivePIDs()) > 0 {
		// What were they doing? SIGQUIT makes a Go process print every
		// goroutine to its standard error, which the logs below show.
		_ = unix.Kill(-g.PGID, unix.SIGQUIT)
		quit := time.Now().Add(3 * time.Second)
		for len(g.LivePIDs()) > 0 && time.Now().Before(quit) {
			g.reapNow()
			time.Sleep(10 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = unix.Kill(-g.PGID, unix.SIGKILL)
		g.reapNow()
		if len(g.Members()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			g.t.Errorf("process group %d (%s) still has members after SIGKILL: %v", g.PGID, g.name, g.Members())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.stop)
	<-g.done
	if g.copied != nil {
		select {
		case <-g.copied:
		case <-time.After(5 * time.Second):
			g.t.Errorf("the output pipe of process group %d (%s) is still open: a process outside the group holds it", g.PGID, g.name)
		}
	}
	if g.t.Failed() {
		g.t.Log(g.Logs())
	}
}

// Stat is what /proc/PID/stat tells about a process.
type Stat struct {
	State      string
	PPID, PGRP int
}

// ReadStat reads /proc/PID/stat; ok is false when the process is gone.
func ReadStat(pid int) (st Stat, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return Stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return Stat{State: f[0], PPID: ppid, PGRP: pgrp}, true
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
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
