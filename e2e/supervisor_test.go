//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// supervisorUpgrades is how many times TestSupervisorUpgradeUnderLoad
// installs a new binary.
const supervisorUpgrades = 10

// TestSupervisorUpgradeUnderLoad installs a new build of examples/reload
// (a new file renamed over the old one, as a package manager or a deploy
// script does) and sends SIGHUP to the supervisor, 10 times, while
// clients that never retry connect straight to its port: a new
// connection per request, keep-alive GETs and POSTs, and 250 ms requests.
// Each time a new worker must serve from the new binary and the
// supervisor must replace its own image with it (its /proc/PID/exe names
// the new file), its PID unchanged; no request may fail and no dial may
// be refused.
func TestSupervisorUpgradeUnderLoad(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "reload")
	install := func() uint64 {
		t.Helper()
		tmp := bin + ".new"
		if err := copyFile(reloadBin, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
		return inode(t, bin)
	}
	install()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	s := startSubject(t, subjectOptions{
		name: "reload-supervisor-upgrade",
		addr: addr,
		bin:  bin,
		// Every idle connection gets the full grace (see
		// TestFinalStopUnderDirectLoadLosesNothing).
		yaml: `process:
  mode: supervisor
  probation: 1s
server:
  idleDrainGraceMin: 1s
log:
  level: info
`,
		supervisor: true,
	})
	supervisor := readPID(s.pidFile)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res *loadgen.Result
	var wg sync.WaitGroup
	wg.Go(func() {
		var clients [loadgen.NumKinds]int
		clients[loadgen.NewConnGet] = 3
		clients[loadgen.KeepAliveGet] = 2
		clients[loadgen.KeepAlivePost] = 1
		clients[loadgen.Slow] = 2
		res = loadgen.Run(ctx, loadgen.Options{Address: addr, Clients: clients, RequestTimeout: 30 * time.Second})
	})
	for i := range supervisorUpgrades {
		time.Sleep(restartPause) // a pace, never a verdict
		want := install()
		s.restart()
		waitFor(t, fmt.Sprintf("upgrade %d: the supervisor to run the new binary", i+1), 60*time.Second, func() bool {
			st, err := os.Stat(fmt.Sprintf("/proc/%d/exe", supervisor))
			return err == nil && st.Sys().(*syscall.Stat_t).Ino == want
		}, s.g.Logs)
		if got := readPID(s.pidFile); got != supervisor {
			t.Fatalf("upgrade %d: the PID file names %d, want the supervisor %d", i+1, got, supervisor)
		}
	}
	cancel()
	wg.Wait()
	s.stop()

	t.Logf("%d supervisor upgrades, %d workers served: %s", supervisorUpgrades, s.distinctPIDs(), res.Summary())
	for _, k := range []loadgen.Kind{loadgen.NewConnGet, loadgen.KeepAliveGet, loadgen.KeepAlivePost, loadgen.Slow} {
		if res.Requests[k] == 0 {
			t.Errorf("%s clients made no request", k)
		}
	}
	for i, f := range res.Failures {
		if i == 10 {
			t.Errorf("... %d failures in all", len(res.Failures))
			break
		}
		t.Errorf("lost or refused: %s", f)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
