package load

import (
	"slices"
	"sync"
	"time"

	"github.com/gracekit/gracekit/bench/internal/hist"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// Bucket counts the outcomes of the requests that ended within one slice
// of a timeline.
type Bucket struct {
	OK, Failed int
}

// PIDEvent tells that responses from a process ID were seen for the first
// time.
type PIDEvent struct {
	PID int
	At  time.Time
}

// Summary is what a recorder counted.
type Summary struct {
	Requests, OK [loadgen.NumKinds]int
	// Failed counts failures by kind and class.
	Failed [loadgen.NumKinds]map[string]int
	// Latency holds the latencies of the successful requests by kind.
	Latency [loadgen.NumKinds]hist.Hist
	// Samples keeps the first failures in detail.
	Samples []loadgen.Failure
}

// maxSamples bounds Summary.Samples.
const maxSamples = 50

// maxBuckets bounds a timeline (an hour of 100 ms slices).
const maxBuckets = 36000

// Recorder collects the outcomes of requests from many clients.
type Recorder struct {
	mu      sync.Mutex
	start   time.Time
	width   time.Duration
	sum     Summary
	buckets []Bucket
	pids    map[int]time.Time
	last    map[int]time.Time
	newPID  chan PIDEvent
}

// NewRecorder returns a recorder whose timeline starts now and has slices
// of width.
func NewRecorder(width time.Duration) *Recorder {
	r := &Recorder{start: time.Now(), width: width, pids: map[int]time.Time{}, last: map[int]time.Time{}, newPID: make(chan PIDEvent, 1024)}
	for k := range r.sum.Failed {
		r.sum.Failed[k] = map[string]int{}
	}
	return r
}

// Start returns the time the timeline starts at.
func (r *Recorder) Start() time.Time { return r.start }

// Width returns the width of a timeline slice.
func (r *Recorder) Width() time.Duration { return r.width }

// NewPIDs delivers a PIDEvent the first time a process ID answers. Events
// are dropped when nobody reads and the buffer is full.
func (r *Recorder) NewPIDs() <-chan PIDEvent { return r.newPID }

func (r *Recorder) bucket(at time.Time) *Bucket {
	i := int(at.Sub(r.start) / r.width)
	if i < 0 || i >= maxBuckets {
		return &Bucket{}
	}
	for len(r.buckets) <= i {
		r.buckets = append(r.buckets, Bucket{})
	}
	return &r.buckets[i]
}

// Record adds the outcome of one request; it makes a Recorder a
// loadgen.Sink. A failed dial counts as a request too: the client meant to
// send one.
func (r *Recorder) Record(o loadgen.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Requests[o.Kind]++
	if !o.OK {
		r.sum.Failed[o.Kind][o.Failure.Class]++
		r.bucket(o.At).Failed++
		if len(r.sum.Samples) < maxSamples {
			r.sum.Samples = append(r.sum.Samples, o.Failure)
		}
		return
	}
	r.sum.OK[o.Kind]++
	r.sum.Latency[o.Kind].Add(o.Latency)
	r.bucket(o.At).OK++
	if o.PID > 0 {
		r.last[o.PID] = o.At
		if _, seen := r.pids[o.PID]; !seen {
			r.pids[o.PID] = o.At
			select {
			case r.newPID <- PIDEvent{PID: o.PID, At: o.At}:
			default:
			}
		}
	}
}

// Summary returns a copy of the counts so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sum
	for k := range s.Failed {
		s.Failed[k] = maps(r.sum.Failed[k])
	}
	s.Samples = slices.Clone(r.sum.Samples)
	return s
}

// Timeline returns the outcome counts per slice since Start.
func (r *Recorder) Timeline() []Bucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.buckets)
}

// FirstSeen returns when pid first answered, if it did.
func (r *Recorder) FirstSeen(pid int) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.pids[pid]
	return t, ok
}

// LastSeen returns when pid last answered, if it did.
func (r *Recorder) LastSeen(pid int) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.last[pid]
	return t, ok
}

// PIDsSince returns the pids that first answered at or after t.
func (r *Recorder) PIDsSince(t time.Time) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for pid, at := range r.pids {
		if !at.Before(t) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

func maps(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Merge adds o's counts to s.
func (s *Summary) Merge(o Summary) {
	for k := range loadgen.NumKinds {
		s.Requests[k] += o.Requests[k]
		s.OK[k] += o.OK[k]
		if s.Failed[k] == nil {
			s.Failed[k] = map[string]int{}
		}
		for c, n := range o.Failed[k] {
			s.Failed[k][c] += n
		}
		s.Latency[k].Merge(&o.Latency[k])
	}
	for _, f := range o.Samples {
		if len(s.Samples) < maxSamples {
			s.Samples = append(s.Samples, f)
		}
	}
}

// TotalRequests returns the requests of every kind; a dial that failed
// counts as a request too.
func (s *Summary) TotalRequests() int {
	n := 0
	for k := range loadgen.NumKinds {
		n += s.Requests[k]
	}
	return n
}

// TotalFailed returns the failures of every kind and class.
func (s *Summary) TotalFailed() int {
	n := 0
	for k := range loadgen.NumKinds {
		for _, c := range s.Failed[k] {
			n += c
		}
	}
	return n
}

// ByClass returns the failures of every kind by class.
func (s *Summary) ByClass() map[string]int {
	out := map[string]int{}
	for k := range loadgen.NumKinds {
		for c, n := range s.Failed[k] {
			out[c] += n
		}
	}
	return out
}

// FastLatency merges the latencies of every kind but Slow.
func (s *Summary) FastLatency() hist.Hist {
	var h hist.Hist
	for k := range loadgen.NumKinds {
		if k != loadgen.Slow {
			h.Merge(&s.Latency[k])
		}
	}
	return h
}

// Failed returns the number of failures so far.
func (r *Recorder) Failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum.TotalFailed()
}
