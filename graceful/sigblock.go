package graceful

import (
	"os"
	"os/signal"
)

// blockForExec makes sigs ignored for an exec of this process: one that
// arrives in the moment of the exec is lost rather than fatal (an ignored
// signal stays ignored across exec, while a caught one would get its
// default action there). A signal held blocked instead would not do
// better: the Go runtime of the new image unblocks SIGTERM, SIGINT and
// SIGHUP before it installs its handlers. restore is the caller's: it
// asks for them again (see reexecSupervisor).
func blockForExec(sigs ...os.Signal) (restore func()) {
	signal.Ignore(sigs...)
	return func() {}
}
