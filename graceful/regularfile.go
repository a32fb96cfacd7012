package graceful

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// readRegularFile reads the regular file at path (a symbolic link to one
// included), which must hold at most max bytes; it reads no more than
// max+1 of them. It opens the path once, without waiting (a named pipe
// with no writer would make a plain open wait), and tells the kind of
// file from the descriptor: a device, a terminal or a pipe is an error at
// once, whatever the path named a moment before.
func readRegularFile(path string, max int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %s)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
