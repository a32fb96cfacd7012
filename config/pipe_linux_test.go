package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestANamedPipeIsReadOrRefusedAtOnce: a configuration file that is a
// named pipe (a FIFO, or a shell's process substitution) is read when a
// process writes to it, and refused at once, saying why, when none does:
// opening it the usual way would wait for a writer for ever (a restart,
// until its upgrade timeout; `-t`, for good).
func TestANamedPipeIsReadOrRefusedAtOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "c.yaml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	load := func() (Config, error) {
		cfg := Default()
		done := make(chan error, 1)
		go func() { done <- Load(&cfg, WithFiles(fifo), WithoutEnv()) }()
		select {
		case err := <-done:
			return cfg, err
		case <-time.After(time.Minute): // a bound for the failure only
			return cfg, errors.New("Load of a named pipe does not return")
		}
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), fifo+" is a named pipe that gave nothing: no process writes to it") {
		t.Errorf("a named pipe nobody writes to: %v", err)
	}

	// A writer: O_RDWR never blocks on a FIFO and counts as one. It closes
	// once Load has taken what it wrote (the pipe is empty), so that Load
	// then reads the end of the file; closed before Load opened the pipe,
	// the content would be lost.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.WriteString(w, "log:\n  level: debug\n"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		cfg Config
		err error
	}
	res := make(chan result, 1)
	go func() { cfg, err := load(); res <- result{cfg, err} }()
	for deadline := time.Now().Add(time.Minute); ; {
		n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Load never read the pipe")
		}
		time.Sleep(time.Millisecond)
	}
	_ = w.Close()
	r := <-res
	if r.err != nil || r.cfg.Log.Level != "debug" {
		t.Errorf("a named pipe with a writer: %v, level %q", r.err, r.cfg.Log.Level)
	}
}

// TestATerminalIsRefusedWithinTheWait: a configuration file or a _FILE
// value that is a terminal (-config /dev/stdin typed at, a pty) is read
// within the wait for files that are not regular ones, and refused after
// it, saying why; it used to be read for ever.
func TestATerminalIsRefusedWithinTheWait(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts := fmt.Sprintf("/dev/pts/%d", n)
	link := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.Symlink(pts, link); err != nil {
		t.Fatal(err)
	}
	lim := defaultLimits()
	lim.wait = 200 * time.Millisecond
	for _, opts := range [][]Option{
		{WithFiles(link), WithoutEnv()},
		{WithEnviron([]string{"GRACEKIT_SERVER_ADDRESS_FILE=" + pts})},
	} {
		cfg := Default()
		done := make(chan error, 1)
		go func() { done <- Load(&cfg, append(opts, withLimits(lim))...) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is not a regular file (a terminal, a socket or a device) and did not come to its end within 200ms") {
				t.Errorf("a terminal: %v", err)
			}
		case <-time.After(time.Minute): // a bound for the failure only
			t.Fatal("Load of a terminal does not return")
		}
	}
}
