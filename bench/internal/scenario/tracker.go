package scenario

import (
	"sync"
	"time"

	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/tree"
)

// tracker samples a subject's process tree every few milliseconds, to see
// children that come and go, how many processes were alive at once, and
// zombies a subject did not reap.
type tracker struct {
	t    *tree.Tree
	stop chan struct{}
	done chan struct{}

	// foreign caches the pids known not to belong to the tree, so that a
	// scan reads the stat file of new processes and tree processes only.
	foreign map[int]bool
	inTree  map[int]bool

	mu    sync.Mutex
	first map[int]time.Time // when each pid was first seen
	gone  map[int]time.Time // when each pid was first seen exited or missing
	// prevLive holds the pids alive at the previous scan; a pid alive in
	// two scans in a row is "stable": it lived at least one interval.
	// Go's os package forks a child that exits at once to probe for
	// pidfd support on its first process start: stability keeps such
	// probes out of the counts.
	prevLive map[int]bool
	stable   map[int]time.Time // when each pid was first seen stable
	maxLive  int               // most stable processes at once
	// zombies holds exited processes whose parent is a subject process,
	// with when they were first and last seen so.
	zombies map[int]*zombie
}

type zombie struct {
	p           proc.Proc
	first, last time.Time
}

// zombieLinger is how long a process must stay unreaped to count as a
// zombie the subject left, rather than a child it was about to reap.
const zombieLinger = time.Second

// trackEvery is the sampling interval of a tracker.
const trackEvery = 2 * time.Millisecond

// maxTrack bounds the life of a tracker.
const maxTrack = 10 * time.Minute

func startTracker(t *tree.Tree) *tracker {
	tr := &tracker{t: t, stop: make(chan struct{}), done: make(chan struct{}),
		first: map[int]time.Time{}, gone: map[int]time.Time{}, zombies: map[int]*zombie{},
		prevLive: map[int]bool{}, stable: map[int]time.Time{},
		foreign: map[int]bool{}, inTree: map[int]bool{}}
	tr.scan()
	go tr.loop()
	return tr
}

func (tr *tracker) loop() {
	defer close(tr.done)
	tick := time.NewTicker(trackEvery)
	defer tick.Stop()
	end := time.After(maxTrack)
	for {
		select {
		case <-tr.stop:
			return
		case <-end:
			return
		case <-tick.C:
			tr.scan()
		}
	}
}

func (tr *tracker) scan() {
	procs, err := tr.procs()
	if err != nil {
		return
	}
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	live := map[int]bool{}
	stable := 0
	present := map[int]bool{}
	for _, p := range procs {
		present[p.PID] = true
		if _, ok := tr.first[p.PID]; !ok {
			tr.first[p.PID] = now
		}
		if p.Zombie() {
			if p.PPID != tr.t.Reaper {
				if z, ok := tr.zombies[p.PID]; ok {
					z.last = now
				} else {
					tr.zombies[p.PID] = &zombie{p: p, first: now, last: now}
				}
			}
			if _, ok := tr.gone[p.PID]; !ok {
				tr.gone[p.PID] = now
			}
			continue
		}
		live[p.PID] = true
		if tr.prevLive[p.PID] {
			stable++
			if _, ok := tr.stable[p.PID]; !ok {
				tr.stable[p.PID] = now
			}
		}
	}
	tr.prevLive = live
	for pid := range tr.first {
		if _, ok := tr.gone[pid]; !ok && !present[pid] {
			tr.gone[pid] = now
		}
	}
	tr.maxLive = max(tr.maxLive, stable)
}

// procs returns the processes of the tree. It lists /proc and reads the
// stat file only of processes it has not classified yet and of those in
// the tree; a process outside the tree never enters it (reparenting only
// moves a tree process to the reaper), and pids that vanish are forgotten
// so that a reused pid is classified again.
func (tr *tracker) procs() ([]proc.Proc, error) {
	pids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	listed := make(map[int]bool, len(pids))
	var fresh []proc.Proc
	var out []proc.Proc
	for _, pid := range pids {
		listed[pid] = true
		if tr.foreign[pid] {
			continue
		}
		p, err := proc.Stat(pid)
		if err != nil {
			continue
		}
		if tr.inTree[pid] || p.PPID == tr.t.Reaper || tr.inTree[p.PPID] {
			tr.inTree[pid] = true
			out = append(out, p)
			continue
		}
		fresh = append(fresh, p)
	}
	// A new child can be listed before its new parent: settle ancestry
	// among the unclassified ones, a bounded number of times.
	for range 8 {
		changed := false
		for i, p := range fresh {
			if p.PID != 0 && tr.inTree[p.PPID] {
				tr.inTree[p.PID] = true
				out = append(out, p)
				fresh[i].PID = 0
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for _, p := range fresh {
		if p.PID != 0 {
			tr.foreign[p.PID] = true
		}
	}
	for pid := range tr.foreign {
		if !listed[pid] {
			delete(tr.foreign, pid)
		}
	}
	for pid := range tr.inTree {
		if !listed[pid] {
			delete(tr.inTree, pid)
		}
	}
	return out, nil
}

// close stops sampling.
func (tr *tracker) close() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
}

// since returns the pids first seen after t, and how many of them have
// exited.
func (tr *tracker) since(t time.Time) (pids []int, exited int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for pid, at := range tr.first {
		if at.After(t) {
			pids = append(pids, pid)
			if _, ok := tr.gone[pid]; ok {
				exited++
			}
		}
	}
	return pids, exited
}

// stableSince returns the pids first seen stable after t.
func (tr *tracker) stableSince(t time.Time) []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []int
	for pid, at := range tr.stable {
		if at.After(t) {
			out = append(out, pid)
		}
	}
	return out
}

// stats returns the most stable processes seen alive at once, and the
// zombies that stayed unreaped for at least zombieLinger.
func (tr *tracker) stats() (maxLive int, zombies []proc.Proc) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, z := range tr.zombies {
		if z.last.Sub(z.first) >= zombieLinger {
			zombies = append(zombies, z.p)
		}
	}
	return tr.maxLive, zombies
}
