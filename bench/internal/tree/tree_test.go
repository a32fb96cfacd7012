package tree

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/proc"
)

// buildReaper compiles cmd/reaper for the test.
func buildReaper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reaper")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/reaper")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the reaper: %v: %s", err, out)
	}
	return bin
}

func TestTreeReapsOrphansAndKillsTheRestOnClose(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	reaper := buildReaper(t)
	// The subject starts a grandchild and exits: the grandchild becomes
	// an orphan that only the reaper can see and must kill at the end.
	tr, err := Start(reaper, filepath.Join(t.TempDir(), "log"), []string{"/bin/sh", "-c", "sleep 60 & echo started"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(5 * time.Second)
	var live []proc.Proc
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		live, _ = tr.Live()
		// The orphan is adopted when the shell exits; the reaper records
		// that exit a moment later: wait for both.
		if len(live) == 1 && live[0].PPID == tr.Reaper && live[0].PID != tr.First && len(tr.Exits()) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(live) != 1 || live[0].PPID != tr.Reaper {
		t.Fatalf("want one orphan adopted by the reaper %d, got %v", tr.Reaper, live)
	}
	orphan := live[0].PID
	if exits := tr.Exits(); len(exits) == 0 || exits[0].PID != tr.First || exits[0].Status != "code=0" {
		t.Errorf("exits = %+v, want the shell's code=0 first", exits)
	}
	if err := tr.Signal(1, syscall.SIGHUP); err == nil {
		t.Error("Signal accepted a pid outside the tree")
	}
	if err := tr.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if tr.Killed() != 1 {
		t.Errorf("Killed = %d, want 1", tr.Killed())
	}
	if proc.Alive(orphan) {
		t.Errorf("orphan %d still alive after Close", orphan)
	}
}
