package graceful

import (
	"path/filepath"
	"testing"
)

// BenchmarkPIDFile compares the two steps of a PID file replaced in
// place: writing the new file beside it (prepare), and renaming it over
// the old one (publish), which a successor does after its ready message.
//
//	go test -run '^$' -bench PIDFile -count 6 ./graceful
func BenchmarkPIDFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "app.pid")
	if err := writePIDFile(path, 1); err != nil {
		b.Fatal(err)
	}
	var f pendingPIDFile
	// Each step is timed alone; the other runs with the timer stopped, so
	// that every publish replaces a file and every prepare writes beside one.
	for _, step := range []string{"prepare", "publish"} {
		b.Run(step, func(b *testing.B) {
			for b.Loop() {
				timed(b, step == "prepare", func() error {
					var err error
					f, err = preparePIDFile(path, 12345)
					return err
				})
				timed(b, step == "publish", f.publish)
			}
		})
	}
}

// timed runs f with the benchmark's timer running only when on.
func timed(b *testing.B, on bool, f func() error) {
	if !on {
		b.StopTimer()
		defer b.StartTimer()
	}
	if err := f(); err != nil {
		b.Fatal(err)
	}
}
