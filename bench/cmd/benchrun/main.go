// Command benchrun is gracekit's load-and-restart benchmark: it builds the
// subjects (gracekit's examples/reload, a tableflip server, plain
// net/http and graceful.Server with the same handler), drives them with
// non-retrying clients on 127.0.0.1 while restarting them by signal, and
// writes RESULTS.md and a timeline plot. Run it from the bench directory:
//
//	go run ./cmd/benchrun            # full run: writes RESULTS.md and timeline.png
//	go run ./cmd/benchrun -quick     # a few restarts per subject; fails if gracekit loses anything
//
// Every process it starts runs under a reaper that kills the whole tree
// when the driver finishes, fails or dies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

func main() {
	load.RunSteadyChildIfAsked()
	var o options
	flag.BoolVar(&o.quick, "quick", false, "quick mode: a few restarts per subject, assert that gracekit loses nothing and leaves no process")
	flag.IntVar(&o.restarts, "restarts", 500, "restarts per subject in the full run (figures 1, 2 and 5)")
	flag.IntVar(&o.block, "block", 50, "restarts per block; subjects alternate block by block")
	flag.IntVar(&o.rounds, "rounds", 10, "alternating rounds of the throughput and cold-start measurements")
	flag.StringVar(&o.out, "out", "RESULTS.md", "results file (full run)")
	flag.StringVar(&o.plot, "plot", "timeline.png", "timeline plot (full run)")
	flag.StringVar(&o.only, "only", "", "comma-separated parts of the full run to do (restarts,cold,throughput,faults,h2,nginx,callgrind,handover,scale,idle,rss,h3); all when empty")
	flag.BoolVar(&o.merge, "merge", false, "put this run's sections into the existing -out file in place of the same sections, keeping the others (with -only; the timeline is not redrawn)")
	flag.BoolVar(&o.smoke, "smoke", false, "run the callgrind, handover, scale, idle, rss and h3 lanes with a few rounds each: a check that they work, not a measurement")
	flag.StringVar(&o.faultFilter, "fault", "", "with -only faults: run only the failure scenarios whose name contains this")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory with the subjects' logs")
	flag.StringVar(&o.base, "base", "", "also measure graceful.Process built from this git revision of the repository (a worktree made for the run) in the idle and scale lanes, named graceful.Process@REV: a before/after in the same run")
	flag.StringVar(&o.idleSizes, "idle-sizes", "", "comma-separated numbers of idle connections of the idle lane (default 100,1000,5000)")
	flag.IntVar(&o.idleRounds, "idle-rounds", 0, "alternating restarts per subject, size and transport of the idle lane (default 3)")
	flag.StringVar(&o.idleTransports, "idle-transports", "", "comma-separated transports of the idle lane: http, tls, tls-resume (default all three)")
	flag.StringVar(&o.scaleSizes, "scale-sizes", "", "comma-separated numbers of sockets and servers of the scale lane (default 1,10,100,500)")
	flag.IntVar(&o.scaleRounds, "scale-rounds", 0, "alternating rounds per size of the scale lane (default 8)")
	flag.DurationVar(&o.timeout, "timeout", 0, "bound of the whole run (default 100s quick, 45m full)")
	flag.Parse()
	if o.timeout == 0 {
		o.timeout = 45 * time.Minute
		if o.quick {
			o.timeout = 100 * time.Second
		}
	}
	os.Exit(run(o))
}

type options struct {
	quick                   bool
	restarts, block, rounds int
	out, plot, only         string
	faultFilter             string
	base, idleSizes         string
	scaleSizes              string
	idleTransports          string
	idleRounds              int
	scaleRounds             int
	keep, smoke, merge      bool
	timeout                 time.Duration
}

func run(o options) int {
	started := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	benchDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	if _, err := os.Stat(filepath.Join(benchDir, "cmd", "benchrun")); err != nil {
		return fail(errors.New("run benchrun from the bench directory (cd bench && go run ./cmd/benchrun)"))
	}
	rootDir := filepath.Dir(benchDir)
	work, err := os.MkdirTemp("", "gracekit-bench-")
	if err != nil {
		return fail(err)
	}
	r := &runner{ctx: ctx, work: work, opts: o}
	defer func() {
		r.closeAll()
		if o.keep {
			fmt.Println("work directory kept:", work)
		} else {
			_ = os.RemoveAll(work)
		}
	}()

	fmt.Println("building subjects...")
	r.cat, err = buildAll(filepath.Join(work, "bin"), benchDir, rootDir, o.base)
	if err != nil {
		return fail(err)
	}
	r.reaper = r.cat.bins["reaper"]
	if o.quick {
		code := r.quick()
		fmt.Printf("quick mode took %s\n", time.Since(started).Round(time.Second))
		return code
	}
	if err := r.full(benchDir, rootDir, started); err != nil {
		return fail(err)
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	return 1
}

// runner holds what every measurement needs and every instance started,
// so that all of them are stopped on the way out.
type runner struct {
	ctx    context.Context
	cat    *catalog
	work   string
	reaper string
	opts   options

	mu   sync.Mutex
	live []*subject.Instance
}

// launch starts the named subject and registers it for the final cleanup.
func (r *runner) launch(name string) (*subject.Instance, error) {
	spec, ok := r.cat.specs[name]
	if !ok {
		return nil, fmt.Errorf("no subject %q", name)
	}
	return r.launchSpec(spec)
}

// launchSpec starts spec and registers it for the final cleanup.
func (r *runner) launchSpec(spec subject.Spec) (*subject.Instance, error) {
	in, err := subject.Launch(spec, r.work, r.reaper)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.live = append(r.live, in)
	r.mu.Unlock()
	return in, nil
}

// closeAll kills and reaps every instance still running.
func (r *runner) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range r.live {
		_ = in.Close()
	}
	r.live = nil
}
