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
	b.Run("prepare", func(b *testing.B) {
		for b.Loop() {
			f, err := preparePIDFile(path, 12345)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := f.publish(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("publish", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			f, err := preparePIDFile(path, 12345)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := f.publish(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
