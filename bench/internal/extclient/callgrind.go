package extclient

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CallgrindEnv is the environment a Go program runs with under callgrind:
// one P and no asynchronous preemption, so that the instructions it
// executes for a given input barely vary from run to run.
var CallgrindEnv = []string{"GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1"}

// Callgrind is a program running under valgrind's callgrind tool. Its
// counters are read by dumping them (callgrind_control -d), which also
// zeroes them: each dump holds what the program executed since the one
// before.
type Callgrind struct {
	cmd    *exec.Cmd
	prefix string
	dumps  int
	done   chan struct{}
}

// StartCallgrind runs argv under `valgrind --tool=callgrind` with
// CallgrindEnv added to the environment, its output appended to logPath
// and its dumps written to outPrefix.N. The process is killed when the
// caller dies (Pdeathsig).
func StartCallgrind(argv []string, outPrefix, logPath string) (*Callgrind, error) {
	if err := Need("valgrind", "callgrind_control"); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("callgrind: %w", err)
	}
	defer logf.Close()
	args := append([]string{"--tool=callgrind", "--callgrind-out-file=" + outPrefix}, argv...)
	cmd := exec.Command("valgrind", args...)
	cmd.Env = append(os.Environ(), CallgrindEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("callgrind: starting valgrind: %w", err)
	}
	c := &Callgrind{cmd: cmd, prefix: outPrefix, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// PID is the process ID of the program (valgrind runs it in its own
// process).
func (c *Callgrind) PID() int { return c.cmd.Process.Pid }

// Dump writes the counters to a new dump file, zeroes them, and returns
// the file and the instructions it counts. It waits at most 60 s.
func (c *Callgrind) Dump(ctx context.Context) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "callgrind_control", "-d", strconv.Itoa(c.PID())).CombinedOutput()
	if err != nil {
		return "", 0, fmt.Errorf("callgrind_control -d %d: %w: %s", c.PID(), err, out)
	}
	c.dumps++
	file := fmt.Sprintf("%s.%d", c.prefix, c.dumps)
	// callgrind_control returns once the program has taken the command;
	// the file is complete once its totals line is there.
	for n := 0; n < 3000; n++ {
		if total, err := CallgrindTotal(file); err == nil {
			return file, total, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("callgrind: no totals in %s: %w", file, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "", 0, fmt.Errorf("callgrind: no totals in %s", file)
}

// Kill ends the program with SIGKILL (callgrind 3.19 aborts inside Go's
// SIGTERM handling) and waits for it.
func (c *Callgrind) Kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
}

// CallgrindTotal reads the instruction total ("totals:" or "summary:"
// line) of a callgrind dump file.
func CallgrindTotal(file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"totals:", "summary:"} {
			if v, ok := strings.CutPrefix(line, p); ok {
				f := strings.Fields(v)
				if len(f) == 0 {
					continue
				}
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("callgrind: no totals line in " + filepath.Base(file))
}

// FuncCost is the instructions a function executed itself (its callees
// excluded) in one dump.
type FuncCost struct {
	Func string
	Ir   int64
}

// SelfCosts reads a callgrind dump file and returns every function with
// the instructions it executed itself, largest first: what
// callgrind_annotate --inclusive=no lists, read from the file directly so
// that nothing else (source annotation, thresholds) is mixed in. The costs
// add up to the file's total.
func SelfCosts(file string) ([]FuncCost, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("callgrind: %w", err)
	}
	defer f.Close()
	return parseSelfCosts(f)
}

func parseSelfCosts(r io.Reader) ([]FuncCost, error) {
	names := map[string]string{} // compressed "(id)" -> name
	// name resolves "(id) name" (defining id) and "(id)" (using it).
	name := func(v string) string {
		v = strings.TrimSpace(v)
		if !strings.HasPrefix(v, "(") {
			return v
		}
		id, rest, ok := strings.Cut(v, ")")
		if !ok {
			return v
		}
		id += ")"
		if rest = strings.TrimSpace(rest); rest != "" {
			names[id] = rest
			return rest
		}
		return names[id]
	}
	costs := map[string]int64{}
	cur := ""
	skipNext := false // the line after calls= is the call's inclusive cost
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "fn="):
			cur = name(line[3:])
		case strings.HasPrefix(line, "cfn="):
			name(line[4:]) // may define a name used later by fn=
		case strings.HasPrefix(line, "calls="):
			skipNext = true
		case line[0] >= '0' && line[0] <= '9', line[0] == '+', line[0] == '-', line[0] == '*':
			if skipNext {
				skipNext = false
				continue
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("callgrind: cost line %q: %w", line, err)
			}
			costs[cur] += n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("callgrind: %w", err)
	}
	out := make([]FuncCost, 0, len(costs))
	for fn, n := range costs {
		out = append(out, FuncCost{Func: fn, Ir: n})
	}
	slices.SortFunc(out, func(a, b FuncCost) int {
		if c := cmp.Compare(b.Ir, a.Ir); c != 0 {
			return c
		}
		return strings.Compare(a.Func, b.Func)
	})
	return out, nil
}
