// Package profile starts a CPU profile for the bench's own subjects, to
// look into where a server spends its time under wrk.
package profile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start begins a CPU profile written to path and returns the function that
// ends it. An empty path profiles nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	done := false
	return func() {
		if !done {
			done = true
			pprof.StopCPUProfile()
			_ = f.Close()
		}
	}, nil
}
