package graceful

import (
	"maps"
	"sync"
)

// Counters that go on across generations: each generation starts from
// those of its parent (in the handover) and adds its own, and the parent
// sends its final ones as it exits; in supervisor mode the supervisor
// keeps them. A process started afresh starts from zero.
const (
	totalRestartsSucceeded = "restarts_succeeded"
	totalRestartsFailed    = "restarts_failed"
	totalRollbacks         = "rollbacks"
)

// totals are the counters of a lineage as one process knows them.
type totals struct {
	mu        sync.Mutex
	inherited map[string]uint64
	own       map[string]uint64
}

func newTotals(inherited map[string]uint64) *totals {
	t := &totals{inherited: map[string]uint64{}, own: map[string]uint64{}}
	t.merge(inherited)
	return t
}

// add counts n more of key in this process.
func (t *totals) add(key string, n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.own[key] += n
}

// get returns the lineage's count of key.
func (t *totals) get(key string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inherited[key] + t.own[key]
}

// snapshot returns the lineage's counts.
func (t *totals) snapshot() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := maps.Clone(t.inherited)
	for k, v := range t.own {
		out[k] += v
	}
	return out
}

// merge takes counts from the ancestors that are newer than those
// inherited (a parent's final counts, a supervisor's): a count never goes
// back.
func (t *totals) merge(m map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range m {
		if v > t.inherited[k] {
			t.inherited[k] = v
		}
	}
}

// ownSnapshot returns the counts of this process alone, which a worker
// hands its supervisor as it exits.
func (t *totals) ownSnapshot() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.own)
}

// addAll adds counts of another process (a worker's own) to this one's.
func (t *totals) addAll(m map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range m {
		t.own[k] += v
	}
}
