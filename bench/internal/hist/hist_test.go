package hist

import (
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if diff := got - c.want; diff < -c.want/50 || diff > c.want/50 {
			t.Errorf("Quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	if h.Max() != time.Second || h.Count() != 1000 {
		t.Errorf("Max %v Count %d", h.Max(), h.Count())
	}
	var o Hist
	o.Add(3 * time.Second)
	h.Merge(&o)
	if h.Max() != 3*time.Second || h.Count() != 1001 {
		t.Errorf("after Merge: Max %v Count %d", h.Max(), h.Count())
	}
	var empty Hist
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

func TestIndexMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 7 {
		i := index(us)
		if i < prev {
			t.Fatalf("index(%d) = %d < %d", us, i, prev)
		}
		prev = i
		if v := value(i); us >= subBuckets && (v < us-us/32 || v > us+us/32) {
			t.Fatalf("value(index(%d)) = %d", us, v)
		}
	}
}
