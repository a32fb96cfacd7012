package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	p, err := parseStat([]byte("123 (a (b) c) S 45 1 2 3"))
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != 123 || p.PPID != 45 || p.State != 'S' || p.Comm != "a (b) c" {
		t.Fatalf("got %+v", p)
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("no error for garbage")
	}
}

func TestSelfAndChild(t *testing.T) {
	n, err := FDCount(os.Getpid())
	if err != nil || n < 3 {
		t.Fatalf("FDCount = %d, %v", n, err)
	}
	if rss, err := RSSKiB(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("RSSKiB = %d, %v", rss, err)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	kids, err := Descendants(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range kids {
		found = found || k.PID == cmd.Process.Pid
	}
	if !found {
		t.Fatalf("child %d not among %v", cmd.Process.Pid, kids)
	}
	if exited, err := WaitExit(cmd.Process.Pid, 20*time.Millisecond); err != nil || exited {
		t.Fatalf("WaitExit on a live process = %v, %v", exited, err)
	}
	_ = cmd.Process.Kill()
	if exited, err := WaitExit(cmd.Process.Pid, 5*time.Second); err != nil || !exited {
		t.Fatalf("WaitExit after kill = %v, %v", exited, err)
	}
}
