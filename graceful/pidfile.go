package graceful

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writePIDFile writes pid to path atomically: supervisors that read the
// file never see it empty or half-written, and the old generation's PID
// is replaced in one step. It does not wait for the disk (no fsync): the
// file names a running process, which a crash of the machine ends too,
// and a new generation reports ready without a disk's latency. An empty
// path (no PID file) writes nothing.
func writePIDFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write PID file: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "%d\n", pid)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write PID file %s: %w", path, err)
	}
	return nil
}

// removePIDFile removes path if it still holds pid: a PID file that
// another generation has taken over is left alone. An empty path (no PID
// file) removes nothing.
func removePIDFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read PID file: %w", err)
	}
	if strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove PID file: %w", err)
	}
	return nil
}
