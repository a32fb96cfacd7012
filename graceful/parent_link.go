package graceful

import (
	"fmt"
	"os"
)

// readyLine is what a new generation writes on its ready pipe.
const readyLine = "READY pid=%d\n"

// parentLink is the new generation's side of a restart: the pipe on which
// it tells its parent that it is ready, and the parent's standard error,
// which it switches to at that moment (until then its standard error is
// a pipe to the parent, so that the parent can report why it failed).
type parentLink struct {
	ready    *os.File
	stderrFd int
}

// reportReady tells the parent that this process serves. It first moves
// standard error off the parent's pipe: the parent stops reading it once
// it has handed over.
func (l *parentLink) reportReady(pid int) error {
	if l.stderrFd > 0 {
		if err := switchStderr(l.stderrFd); err != nil {
			return fmt.Errorf("switch standard error back from the parent's pipe: %w", err)
		}
		l.stderrFd = 0
	}
	_, err := fmt.Fprintf(l.ready, readyLine, pid)
	if cerr := l.ready.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tell the parent generation we are ready: %w", err)
	}
	return nil
}

// close abandons the link without reporting ready: the parent sees the
// pipe close and treats the start as failed.
func (l *parentLink) close() {
	_ = l.ready.Close()
	if l.stderrFd > 0 {
		closeFd(l.stderrFd)
		l.stderrFd = 0
	}
}
