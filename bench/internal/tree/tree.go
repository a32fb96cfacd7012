// Package tree runs a subject under the reaper command and watches its
// process tree: every generation a subject starts stays a descendant of
// the reaper, so the driver can find leftovers and zombies, signal only
// its own processes, and kill everything at the end even when it fails.
package tree

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/proc"
)

// Exit is one process the reaper reaped.
type Exit struct {
	PID    int
	Status string // "code=0", "signal=SIGKILL", ...
	At     time.Time
}

// Tree is a running reaper and the subject tree under it.
type Tree struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	// Reaper is the reaper's PID; First the subject process it started.
	Reaper, First int

	mu     sync.Mutex
	exits  []Exit
	done   chan struct{} // closed when the reaper's output ends
	killed int
}

// Start runs reaperBin, which starts argv with its output appended to
// logPath, and returns once the subject process exists.
func Start(reaperBin, logPath string, argv []string) (*Tree, error) {
	cmd := exec.Command(reaperBin, append([]string{"-log", logPath, "--"}, argv...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tree: starting reaper: %w", err)
	}
	t := &Tree{cmd: cmd, stdin: stdin, Reaper: cmd.Process.Pid, done: make(chan struct{})}
	first := make(chan int, 1)
	go t.read(stdout, first)
	select {
	case pid, ok := <-first:
		if ok {
			t.First = pid
			return t, nil
		}
	case <-time.After(10 * time.Second):
	}
	_ = t.Close(5 * time.Second)
	return nil, fmt.Errorf("tree: the reaper did not start %s", argv[0])
}

func (t *Tree) read(r io.Reader, first chan<- int) {
	defer close(t.done)
	defer close(first)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "start":
			if pid, err := strconv.Atoi(f[1]); err == nil {
				first <- pid
			}
		case len(f) == 4 && f[0] == "exit":
			pid, _ := strconv.Atoi(f[1])
			ns, _ := strconv.ParseInt(f[3], 10, 64)
			t.mu.Lock()
			t.exits = append(t.exits, Exit{PID: pid, Status: f[2], At: time.Unix(0, ns)})
			t.mu.Unlock()
		case len(f) == 2 && f[0] == "done":
			n, _ := strconv.Atoi(f[1])
			t.mu.Lock()
			t.killed = n
			t.mu.Unlock()
		}
	}
}

// Exits returns the processes reaped so far.
func (t *Tree) Exits() []Exit {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.exits)
}

// Procs returns the processes of the subject tree, zombies included.
func (t *Tree) Procs() ([]proc.Proc, error) {
	return proc.Descendants(t.Reaper)
}

// Live returns the processes of the tree that have not exited.
func (t *Tree) Live() ([]proc.Proc, error) {
	all, err := t.Procs()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, proc.Proc.Zombie), nil
}

// Zombies returns the exited processes that a subject process (not the
// reaper, which reaps at once) has failed to reap.
func (t *Tree) Zombies() ([]proc.Proc, error) {
	all, err := t.Procs()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p proc.Proc) bool { return !p.Zombie() || p.PPID == t.Reaper }), nil
}

// Contains reports whether pid is a live process of the tree: the driver
// signals nothing else.
func (t *Tree) Contains(pid int) bool {
	live, err := t.Live()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(live, func(p proc.Proc) bool { return p.PID == pid })
}

// Signal sends sig to pid after checking that pid belongs to the tree.
func (t *Tree) Signal(pid int, sig syscall.Signal) error {
	if !t.Contains(pid) {
		return fmt.Errorf("tree: %d is not a live process of this subject", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("tree: signalling %d: %w", pid, err)
	}
	return nil
}

// Close tells the reaper to kill what is left and waits for it, at most
// timeout; past that it kills the tree and the reaper itself. Killed then
// tells how many processes the reaper had to kill. Calling it twice is
// safe.
func (t *Tree) Close(timeout time.Duration) (err error) {
	_ = t.stdin.Close()
	select {
	case <-t.done:
	case <-time.After(timeout):
		err = errors.New("tree: the reaper did not finish in time; killed it and its tree")
		if kids, perr := t.Procs(); perr == nil {
			for _, k := range kids {
				_ = syscall.Kill(k.PID, syscall.SIGKILL)
			}
		}
		_ = t.cmd.Process.Kill()
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- t.cmd.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(timeout):
		_ = t.cmd.Process.Kill()
		<-waitErr
	}
	return err
}

// Killed returns how many processes the reaper killed when it was closed.
func (t *Tree) Killed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.killed
}
