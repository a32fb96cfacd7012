// Package hist is a fixed-size latency histogram with about 1.5 %
// resolution, cheap enough to record every request of a long run.
package hist

import (
	"math/bits"
	"time"
)

const (
	subBits    = 6
	subBuckets = 1 << subBits
	// buckets covers microsecond values up to 2^40 (about 12 days).
	buckets = (40 - subBits + 1) * subBuckets
)

// Hist counts durations at microsecond granularity.
type Hist struct {
	counts [buckets]uint64
	n      uint64
	max    time.Duration
}

func index(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 1 - subBits
	i := (shift+1)*subBuckets + int(us>>uint(shift)) - subBuckets
	return min(i, buckets-1)
}

// value returns the middle of bucket i in microseconds.
func value(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	lo := uint64(i%subBuckets+subBuckets) << uint(shift)
	return lo + (uint64(1)<<uint(shift))/2
}

// Add records one duration.
func (h *Hist) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[index(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds the counts of o.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns how many durations were recorded.
func (h *Hist) Count() uint64 { return h.n }

// Max returns the largest duration recorded, exactly.
func (h *Hist) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q <= 1) of the durations, or 0
// when there are none.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(value(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
