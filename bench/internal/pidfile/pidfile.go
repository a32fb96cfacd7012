// Package pidfile writes a PID file atomically, for the bench subjects
// whose library does not write one itself.
package pidfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Write stores the current process ID in path through a temporary file in
// the same directory and a rename, so that a reader never sees a partial
// file.
func Write(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strconv.Itoa(os.Getpid()) + "\n"); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("pid file: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pid file: closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}
