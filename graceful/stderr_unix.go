//go:build unix

package graceful

import (
	"sync"

	"golang.org/x/sys/unix"
)

// stderrSwitch moves a new process's standard error off the pipe to its
// parent (see handover.StderrFd) back to the parent's own standard error.
type stderrSwitch struct {
	once     sync.Once
	stderrFd int
	pipeFd   int
}

func newStderrSwitch(stderrFd, pipeFd int) *stderrSwitch {
	return &stderrSwitch{stderrFd: stderrFd, pipeFd: pipeFd}
}

// switchAway makes the parent's standard error this process's fd 2. The
// parent copies what is left in the pipe.
func (s *stderrSwitch) switchAway() { s.do(false) }

// restore does the same when the parent is gone: what the pipe holds is
// copied by this process, so nothing written before is lost.
func (s *stderrSwitch) restore() { s.do(true) }

func (s *stderrSwitch) do(drain bool) {
	if s == nil {
		return
	}
	s.once.Do(func() {
		_ = unix.Dup2(s.stderrFd, 2)
		if drain {
			_ = unix.SetNonblock(s.pipeFd, true)
			buf := make([]byte, 32<<10)
			for {
				n, err := unix.Read(s.pipeFd, buf)
				if n <= 0 || err != nil {
					break
				}
				_, _ = unix.Write(2, buf[:n])
			}
		}
		closeFd(s.stderrFd)
		closeFd(s.pipeFd)
	})
}
