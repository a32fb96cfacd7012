package scenario

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// CallgrindOptions tune one callgrind measurement.
type CallgrindOptions struct {
	// Warm is the number of keep-alive requests before the first dump,
	// Measure the number between the first and the second.
	Warm, Measure int
	// StartTimeout bounds the subject's start under valgrind (tens of
	// times slower than without).
	StartTimeout time.Duration
}

// CallgrindRun is one subject measured once.
type CallgrindRun struct {
	Subject string
	// Repeat numbers the runs of one subject from 0.
	Repeat int
	// Instructions counts what the subject executed, all threads, over
	// the Measure requests; PerRequest is Instructions / Measure.
	Instructions int64
	Measure      int
	PerRequest   float64
	// Dump is the second dump file, which holds those instructions.
	Dump string
}

// Callgrind starts spec's binary under callgrind (GOMAXPROCS=1,
// GODEBUG=asyncpreemptoff=1) in a new directory below dir, sends o.Warm
// GET / on one keep-alive connection, dumps the counters (which zeroes
// them), sends o.Measure more on the same connection, dumps again, and
// kills the subject with SIGKILL. The second dump holds the instructions
// of the o.Measure requests, idle threads included.
func Callgrind(ctx context.Context, spec subject.Spec, dir string, o CallgrindOptions) (CallgrindRun, error) {
	run := CallgrindRun{Subject: spec.Name, Measure: o.Measure}
	fail := func(err error) (CallgrindRun, error) {
		return run, fmt.Errorf("callgrind %s: %w", spec.Name, err)
	}
	d, err := os.MkdirTemp(dir, "callgrind-")
	if err != nil {
		return fail(err)
	}
	addr, err := subject.FreePort()
	if err != nil {
		return fail(err)
	}
	cfg := filepath.Join(d, "config.yaml")
	if err := os.WriteFile(cfg, []byte(spec.ValidConfig), 0o644); err != nil {
		return fail(err)
	}
	argv := append([]string{spec.Bin}, spec.Args(addr, filepath.Join(d, "server.pid"), cfg)...)
	cg, err := extclient.StartCallgrind(argv, filepath.Join(d, "callgrind.out"), filepath.Join(d, "server.log"))
	if err != nil {
		return fail(err)
	}
	defer cg.Kill()
	if _, _, err := load.WaitPID(ctx, addr, cg.PID(), 50*time.Millisecond, o.StartTimeout); err != nil {
		return fail(err)
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	c := keepAlive{conn: conn, br: bufio.NewReader(conn)}
	if err := c.requests(o.Warm); err != nil {
		return fail(err)
	}
	if _, _, err := cg.Dump(ctx); err != nil {
		return fail(err)
	}
	if err := c.requests(o.Measure); err != nil {
		return fail(err)
	}
	file, total, err := cg.Dump(ctx)
	if err != nil {
		return fail(err)
	}
	run.Instructions, run.Dump = total, file
	run.PerRequest = float64(total) / float64(o.Measure)
	return run, nil
}

// keepAlive sends GET / one request at a time on one connection.
type keepAlive struct {
	conn net.Conn
	br   *bufio.Reader
}

var keepAliveGet = []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")

func (c keepAlive) requests(n int) error {
	for i := range n {
		_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.conn.Write(keepAliveGet); err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		if resp.StatusCode != http.StatusOK || resp.Close {
			return fmt.Errorf("request %d: %s, close %v", i+1, resp.Status, resp.Close)
		}
	}
	return nil
}

// FuncDelta is a function's own instructions per request in two subjects.
type FuncDelta struct {
	Func string
	A, B float64
}

// CompareFuncs reads the dumps of two runs and returns the functions
// whose own instructions per request differ the most between them
// (a minus b, largest absolute difference first), at most n.
func CompareFuncs(a, b CallgrindRun, n int) ([]FuncDelta, error) {
	fa, err := extclient.SelfCosts(a.Dump)
	if err != nil {
		return nil, err
	}
	fb, err := extclient.SelfCosts(b.Dump)
	if err != nil {
		return nil, err
	}
	byName := map[string]*FuncDelta{}
	var order []*FuncDelta
	get := func(name string) *FuncDelta {
		if d, ok := byName[name]; ok {
			return d
		}
		d := &FuncDelta{Func: name}
		byName[name] = d
		order = append(order, d)
		return d
	}
	for _, f := range fa {
		get(f.Func).A += float64(f.Ir) / float64(a.Measure)
	}
	for _, f := range fb {
		get(f.Func).B += float64(f.Ir) / float64(b.Measure)
	}
	out := make([]FuncDelta, 0, len(order))
	for _, d := range order {
		out = append(out, *d)
	}
	sortByAbsDelta(out)
	return out[:min(n, len(out))], nil
}

// TopFuncs reads a run's dump and returns its n most expensive
// functions by own instructions per request.
func TopFuncs(r CallgrindRun, n int) ([]FuncDelta, error) {
	fs, err := extclient.SelfCosts(r.Dump)
	if err != nil {
		return nil, err
	}
	out := make([]FuncDelta, 0, min(n, len(fs)))
	for _, f := range fs[:min(n, len(fs))] {
		out = append(out, FuncDelta{Func: f.Func, A: float64(f.Ir) / float64(r.Measure)})
	}
	return out, nil
}

func sortByAbsDelta(ds []FuncDelta) {
	slices.SortStableFunc(ds, func(x, y FuncDelta) int {
		return cmp.Compare(math.Abs(y.A-y.B), math.Abs(x.A-x.B))
	})
}
