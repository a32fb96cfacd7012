//go:build linux

package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	BecomeSubreaper()
	os.Exit(m.Run())
}

// TestCleanupKillsAndReapsTheWholeGroup starts a tree with a child and an
// orphan (a grandchild whose parent exited, re-parented to the test), and
// checks that when the test that started it ends, no process of the group
// is left, zombies included.
func TestCleanupKillsAndReapsTheWholeGroup(t *testing.T) {
	var pgid int
	t.Run("tree", func(t *testing.T) {
		g := Start(t, Options{Argv: []string{"sh", "-c", "(sleep 300 &); sleep 300 & echo started; wait"}})
		pgid = g.PGID
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(g.Output(), "started") || len(g.LivePIDs()) != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("want sh and two sleeps in the group, have %v\n%s", g.Members(), g.Logs())
			}
			time.Sleep(5 * time.Millisecond)
		}
		orphans := 0
		for _, m := range g.Members() {
			if m.PPID == os.Getpid() && m.PID != g.PGID {
				orphans++
			}
		}
		if orphans != 1 {
			t.Errorf("want 1 orphan re-parented to the test, have %d: %v", orphans, g.Members())
		}
	})
	if left := groupMembers(pgid); len(left) > 0 {
		t.Fatalf("process group %d still has %v after its test ended", pgid, left)
	}
}

// TestSignalAndExitStatus checks Signal on a running member, on one that
// has exited (false, not a failure), and the first process's status.
func TestSignalAndExitStatus(t *testing.T) {
	g := Start(t, Options{Name: "sleeper", Argv: []string{"sleep", "300"}})
	if g.Exited() {
		t.Fatal("Exited before any signal")
	}
	if !g.Signal(g.PGID, syscall.SIGTERM) {
		t.Fatal("Signal to a running member reported false")
	}
	if got := g.WaitFirst(30 * time.Second); got != "signal: terminated" {
		t.Errorf("status = %q, want %q", got, "signal: terminated")
	}
	g.WaitGone(g.PGID, 30*time.Second)
	if g.Signal(g.PGID, syscall.SIGTERM) {
		t.Error("Signal to a reaped member reported true")
	}
	if !g.Exited() || g.Name() != "sleeper" {
		t.Errorf("Exited() = %v, Name() = %q", g.Exited(), g.Name())
	}

	h := Start(t, Options{Argv: []string{"sh", "-c", "echo to-stderr >&2; exit 3"}})
	if got := h.WaitFirst(30 * time.Second); got != "exit status 3" {
		t.Errorf("status = %q, want exit status 3", got)
	}
	h.CheckEmpty(30 * time.Second)
}

// TestLogDir checks that output goes to a file in LogDir when it is set.
func TestLogDir(t *testing.T) {
	dir := t.TempDir()
	g := Start(t, Options{Name: "echo", Argv: []string{"sh", "-c", "echo in-the-file"}, LogDir: dir})
	g.WaitFirst(30 * time.Second)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "echo-") {
		t.Fatalf("LogDir has %v (%v), want one echo-*.log", entries, err)
	}
	if got := g.Output(); got != "in-the-file\n" {
		t.Errorf("Output() = %q", got)
	}
}

// TestReadStatOfAnOddName checks ReadStat where the command name, which
// /proc/PID/stat shows in parentheses, has spaces and parentheses itself.
func TestReadStatOfAnOddName(t *testing.T) {
	st, ok := ReadStat(os.Getpid())
	if !ok || st.State == "" || st.PPID != os.Getppid() || st.PGRP != syscall.Getpgrp() {
		t.Fatalf("ReadStat(self) = %+v, %v; want ppid %d, pgrp %d", st, ok, os.Getppid(), syscall.Getpgrp())
	}
	if _, ok := ReadStat(-1); ok {
		t.Error("ReadStat(-1) succeeded")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("skipped: no sleep command: %v", err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "a) (b c")
	if err := os.WriteFile(odd, b, 0o700); err != nil {
		t.Fatal(err)
	}
	g := Start(t, Options{Argv: []string{odd, "300"}})
	st, ok = ReadStat(g.PGID)
	if !ok || st.PGRP != g.PGID || st.PPID != os.Getpid() {
		t.Fatalf("ReadStat(%d) = %+v, %v; want pgrp %d, ppid %d", g.PGID, st, ok, g.PGID, os.Getpid())
	}
}

func groupMembers(pgid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadStat(pid); ok && st.PGRP == pgid {
			out = append(out, pid)
		}
	}
	return out
}
