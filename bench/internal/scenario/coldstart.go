package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// ColdStart starts a fresh process of spec's binary and returns the time
// from just before the start to its first 200 answer naming its own pid:
// the physical floor of a handover, which starts the same binary. The
// process is stopped with SIGTERM (SIGKILL after 10 s) and reaped.
func ColdStart(ctx context.Context, spec subject.Spec, dir string) (time.Duration, error) {
	addr, err := subject.FreePort()
	if err != nil {
		return 0, err
	}
	d, err := os.MkdirTemp(dir, "cold-")
	if err != nil {
		return 0, fmt.Errorf("cold start: %w", err)
	}
	cfg := filepath.Join(d, "config.yaml")
	if err := os.WriteFile(cfg, []byte(spec.ValidConfig), 0o644); err != nil {
		return 0, fmt.Errorf("cold start: %w", err)
	}
	cmd := exec.Command(spec.Bin, spec.Args(addr, filepath.Join(d, "server.pid"), cfg)...)
	logf, err := os.Create(filepath.Join(d, "server.log"))
	if err != nil {
		return 0, fmt.Errorf("cold start: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Killed with the driver, whatever way the driver ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cold start of %s: %w", spec.Name, err)
	}
	defer stopCmd(cmd)
	_, at, err := load.WaitPID(ctx, addr, cmd.Process.Pid, time.Millisecond, 15*time.Second)
	if err != nil {
		return 0, fmt.Errorf("cold start of %s: %w", spec.Name, err)
	}
	return at.Sub(t0), nil
}

func stopCmd(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
