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
	f, err := preparePIDFile(path, pid)
	if err != nil {
		return err
	}
	return f.publish()
}

// A pendingPIDFile is a PID file written beside its path and not yet in
// place.
type pendingPIDFile struct {
	tmp, path string // "" when there is no PID file
}

// preparePIDFile writes pid to a new file in path's directory: a full or
// read-only disk, a directory the process may not write to, or a path
// that is a directory fails here. publish renames it over path. The two
// are apart because on ext4 a rename over an existing file first starts
// writing the new file out (auto_da_alloc; BenchmarkPIDFile), which a
// successor does once it has reported ready rather than on its way there.
func preparePIDFile(path string, pid int) (pendingPIDFile, error) {
	if path == "" {
		return pendingPIDFile{}, nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return pendingPIDFile{}, fmt.Errorf("write PID file %s: it is a directory", path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return pendingPIDFile{}, fmt.Errorf("write PID file: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "%d\n", pid)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return pendingPIDFile{}, fmt.Errorf("write PID file %s: %w", path, err)
	}
	return pendingPIDFile{tmp: tmp.Name(), path: path}, nil
}

// publish puts the file in place; on failure it removes it.
func (f pendingPIDFile) publish() error {
	if f.path == "" {
		return nil
	}
	if err := os.Rename(f.tmp, f.path); err != nil {
		_ = os.Remove(f.tmp)
		return fmt.Errorf("write PID file %s: %w", f.path, err)
	}
	return nil
}

// pidFileNames reports whether the PID file at path names pid. It reads
// a regular file only, and a few bytes of it: whatever replaced the file
// cannot make it wait or take memory.
func pidFileNames(path string, pid int) bool {
	if path == "" {
		return false
	}
	data, err := readRegularFile(path, 32)
	return err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(pid)
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

// rewritePIDFile writes pid to path again unless the file names it
// already, and says whether it wrote: a supervisor's PID file, written
// once at its start, that has since been removed or overwritten.
func rewritePIDFile(path string, pid int) (bool, error) {
	if path == "" {
		return false, nil
	}
	if pidFileNames(path, pid) {
		return false, nil
	}
	return true, writePIDFile(path, pid)
}
