//go:build !unix

package graceful

import "log/slog"

// reaper exists only where processes are reaped (Unix).
type reaper struct{}

func newReaper(*slog.Logger) *reaper      { return nil }
func (r *reaper) watch(int, func(string)) {}
func (r *reaper) stop()                   {}
