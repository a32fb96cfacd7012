//go:build !unix

package graceful

type stderrSwitch struct{}

func newStderrSwitch(int, int) *stderrSwitch { return nil }
func (s *stderrSwitch) switchAway()          {}
func (s *stderrSwitch) restore()             {}
