package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/scenario"
)

// TestTimelineDrawsEveryLane renders two synthetic lanes and checks that
// the result is a PNG with two panels per lane.
func TestTimelineDrawsEveryLane(t *testing.T) {
	lane := func(name string, failAt int) *scenario.Lane {
		l := &scenario.Lane{Subject: name, Width: 100 * time.Millisecond, Restarts: []time.Duration{time.Second}}
		for i := range 30 {
			b := load.Bucket{OK: 1000}
			if i == failAt {
				b.Failed = 5
			}
			l.Buckets = append(l.Buckets, b)
		}
		return l
	}
	path := filepath.Join(t.TempDir(), "timeline.png")
	if err := Timeline(path, []*scenario.Lane{lane("a", -1), lane("b", 10)}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dy() < 4*b.Dx()/8 {
		t.Errorf("image %v is too short for four panels", b)
	}
	if err := Timeline(path, nil); err == nil {
		t.Error("a timeline without lanes was drawn")
	}
}
