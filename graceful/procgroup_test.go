//go:build linux

package graceful

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// procGroup is the tree of processes one test starts: its first process
// is the leader of a process group of its own, and every process the tree
// starts (the generations of a service, its workers, their helpers) stays
// in that group. The test process is a child subreaper (see TestMain), so
// a process orphaned inside the group (an old generation that handed
// over) is re-parented to the test, and the group's reaper collects it.
//
// The reaper waits only for members of this group (wait4 with -pgid), so
// it never takes the exit of another test's process, and cleanup kills
// the whole group and reaps it until no member is left: one test can
// never leave a process, or a zombie, to the next.
type procGroup struct {
	t      *testing.T
	pgid   int // also the PID of the first process
	output *syncBuffer

	first  chan string   // the first process's exit status, once
	copied chan struct{} // closed when the output pipe has no writer left

	stop chan struct{}
	done chan struct{}
}

// groupOptions describe the first process of a group.
type groupOptions struct {
	argv  []string
	env   []string
	files []*os.File // extra files, from fd 3 on
	// cloneflags are passed to clone(2), e.g. CLONE_NEWPID.
	cloneflags uintptr
}

// startGroup starts the first process of a new process group. Standard
// output and error of every process in the tree go to the group's output
// buffer. The test's cleanup kills and reaps the whole group.
func startGroup(t *testing.T, o groupOptions) *procGroup {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	files := append([]*os.File{devnull, w, w}, o.files...)
	p, err := os.StartProcess(o.argv[0], o.argv, &os.ProcAttr{
		Env:   o.env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true, Cloneflags: o.cloneflags},
	})
	_ = w.Close()
	_ = devnull.Close()
	if err != nil {
		_ = r.Close()
		t.Fatalf("start %s: %v", o.argv[0], err)
	}
	g := &procGroup{
		t:      t,
		pgid:   p.Pid,
		output: &syncBuffer{},
		first:  make(chan string, 1),
		copied: make(chan struct{}),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	_ = p.Release() // the group's reaper waits for it
	go func() {
		defer close(g.copied)
		defer r.Close()
		_, _ = io.Copy(g.output, r)
	}()
	go g.reapLoop()
	t.Cleanup(g.cleanup)
	return g
}

// reapLoop collects every member of the group that exits, woken by
// SIGCHLD; the ticker only covers a SIGCHLD coalesced with another test's.
func (g *procGroup) reapLoop() {
	defer close(g.done)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(50 * time.Millisecond)
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
func (g *procGroup) reapNow() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-g.pgid, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return // nothing more now (0), or no child in the group (ECHILD)
		}
		if pid == g.pgid {
			g.first <- waitStatusString(ws)
		}
	}
}

// waitFirst waits for the first process to exit and returns its status
// ("exit status 0", "signal: killed", ...).
func (g *procGroup) waitFirst(timeout time.Duration) string {
	g.t.Helper()
	select {
	case s := <-g.first:
		g.first <- s // later callers see it too
		return s
	case <-time.After(timeout):
		g.t.Fatalf("the first process (pid %d) did not exit within %s\nlogs:\n%s", g.pgid, timeout, g.output)
		return ""
	}
}

// member is a process of the group as /proc shows it.
type member struct {
	pid, ppid int
	state     string
}

// members returns the processes of the group that still exist, zombies
// included: a zombie keeps its process group.
func (g *procGroup) members() []member {
	var out []member
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProcStat(pid)
		if ok && st.pgrp == g.pgid {
			out = append(out, member{pid: pid, ppid: st.ppid, state: st.state})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// livePIDs returns the members that run (not zombies).
func (g *procGroup) livePIDs() []int {
	var pids []int
	for _, m := range g.members() {
		if m.state != "Z" {
			pids = append(pids, m.pid)
		}
	}
	return pids
}

// alive reports whether pid is a running member: not reaped, not a
// zombie. kill(pid, 0) cannot tell, since it succeeds on a zombie.
func (g *procGroup) alive(pid int) bool {
	st, ok := readProcStat(pid)
	return ok && st.pgrp == g.pgid && st.state != "Z"
}

// signal sends sig to a member. A member that has exited already (which a
// generation does once it has handed over) is not an error: it reports
// false. Any other failure fails the test.
func (g *procGroup) signal(pid int, sig syscall.Signal) bool {
	g.t.Helper()
	if !g.alive(pid) {
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

// waitGone waits until pid no longer runs.
func (g *procGroup) waitGone(pid int, timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for g.alive(pid) {
		if time.Now().After(deadline) {
			g.t.Fatalf("process %d still running after %s\nlogs:\n%s", pid, timeout, g.output)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkEmpty fails the test when a member still runs, or when a member is
// a zombie that its (living) parent does not reap: the graceful process
// that started it leaked it. Zombies re-parented to the test are the
// reaper's and do not count.
func (g *procGroup) checkEmpty(timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, m := range g.members() {
			if m.state == "Z" && m.ppid == os.Getpid() {
				continue
			}
			left = append(left, fmt.Sprintf("%d (state %s, parent %d)", m.pid, m.state, m.ppid))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Errorf("processes left behind: %s\nlogs:\n%s", strings.Join(left, ", "), g.output)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanup kills the whole group and reaps every member, so that nothing
// outlives the test, whatever it did.
func (g *procGroup) cleanup() {
	if g.t.Failed() && len(g.members()) > 0 {
		// What were they doing? SIGQUIT makes a Go process print every
		// goroutine to its standard error, which the logs below show.
		_ = unix.Kill(-g.pgid, unix.SIGQUIT)
		quit := time.Now().Add(3 * time.Second)
		for len(g.livePIDs()) > 0 && time.Now().Before(quit) {
			g.reapNow()
			time.Sleep(10 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = unix.Kill(-g.pgid, unix.SIGKILL)
		g.reapNow()
		if len(g.members()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			g.t.Errorf("process group %d still has members after SIGKILL: %v", g.pgid, g.members())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.stop)
	<-g.done
	select {
	case <-g.copied:
	case <-time.After(5 * time.Second):
		g.t.Errorf("the output pipe of process group %d is still open", g.pgid)
	}
	if g.t.Failed() {
		g.t.Logf("logs of process group %d:\n%s", g.pgid, g.output)
	}
}

// procStat is what /proc/PID/stat tells about a process.
type procStat struct {
	state      string
	ppid, pgrp int
}

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{state: f[0], ppid: ppid, pgrp: pgrp}, true
}
