//go:build linux

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/docpos"
)

// TestJSONLogIsOneObjectPerLineWithUniqueKeys runs examples/reload with
// log.format json, in both modes, through restarts, a restart that fails
// (a bad configuration, whose child's words the parent quotes), a
// rollback (the successor killed in its probation) and a final stop: every line the service's processes write (supervisor,
// workers, generations, failed children) must be one JSON object, and no
// object may have a key twice, which a log pipeline would resolve to
// either value.
func TestJSONLogIsOneObjectPerLineWithUniqueKeys(t *testing.T) {
	for _, mode := range []string{"reexec", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			good := "process:\n  mode: " + mode + "\n  probation: 0s\nlog:\n  format: json\n  level: debug\n"
			s := startSubject(t, subjectOptions{
				name:       "reload-json-" + mode,
				addr:       "127.0.0.1:" + strconv.Itoa(freePort(t)),
				yaml:       good,
				supervisor: mode == "supervisor",
			})
			s.restart()
			writeFile(t, s.conf, good+"server:\n  readTimeout: fast\n")
			target := readPID(s.pidFile)
			if !s.g.Signal(target, syscall.SIGHUP) {
				t.Fatalf("the process in the PID file (%d) is not running\n%s", target, s.g.Logs())
			}
			waitFor(t, "the restart with a bad configuration to fail", 60*time.Second, func() bool {
				return strings.Contains(s.g.Output(), "restart failed; still serving")
			}, s.g.Logs)
			writeFile(t, s.conf, good)
			s.restart()
			// A rollback: the generation that serves now keeps a long
			// probation, and its successor is killed within it.
			writeFile(t, s.conf, strings.Replace(good, "probation: 0s", "probation: 1h", 1))
			held := s.restart()
			if mode == "supervisor" {
				// A new probation is the supervisor's too: it executes
				// itself again, and a signal in that moment is lost
				// (README); a deploy waits for it, as systemd does for
				// its READY=1.
				waitFor(t, "the supervisor's new image", 60*time.Second, func() bool {
					return strings.Contains(s.g.Output(), "the supervisor runs its new image")
				}, s.g.Logs)
			}
			target = readPID(s.pidFile)
			if !s.g.Signal(target, syscall.SIGHUP) {
				t.Fatalf("the process in the PID file (%d) is not running\n%s", target, s.g.Logs())
			}
			next := s.waitServing(held)
			s.g.Signal(next, syscall.SIGKILL)
			waitFor(t, "the rollback", 60*time.Second, func() bool {
				return strings.Contains(s.g.Output(), "rolled back") && s.bodyPID() == held
			}, s.g.Logs)
			s.stop()

			out := s.g.Output()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for i, line := range lines {
				if err := checkJSONObject(line); err != nil {
					t.Errorf("line %d: %v: %s", i+1, err, line)
				}
			}
			if len(lines) < 10 || !strings.Contains(out, `"child_stderr":`) {
				t.Errorf("%d lines, and the failed restart's line quotes the child: %v; want a log of the whole run\n%s",
					len(lines), strings.Contains(out, `"child_stderr":`), out)
			}
			t.Logf("%d JSON lines", len(lines))
		})
	}
}

// checkJSONObject returns an error unless line is one JSON object whose
// keys, at every level, are each there once.
func checkJSONObject(line string) error {
	if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) {
		return errors.New("not one JSON object")
	}
	if d := docpos.JSON([]byte(line), docpos.Limits{}).Duplicates(); len(d) > 0 {
		return fmt.Errorf("the key %q is there %d times", strings.Join(d[0].Path, "."), d[0].Count)
	}
	return nil
}
