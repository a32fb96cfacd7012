package scenario

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/bench/internal/proc"
	"github.com/gracekit/gracekit/bench/internal/subject"
	"github.com/gracekit/gracekit/internal/loadgen"
)

// FaultOptions tune the failure scenarios.
type FaultOptions struct {
	// CrashBin and HangBin are the fault stand-ins installed as a broken
	// release: one exits during its initialisation, one never gets ready.
	CrashBin, HangBin string
	// HangWait bounds the wait for a subject to kill a child that never
	// gets ready (both libraries default to one minute).
	HangWait time.Duration
	// Clients is the load during a scenario.
	Clients [loadgen.NumKinds]int
}

// FaultResult is the outcome of one scenario on one subject.
type FaultResult struct {
	Subject, Scenario string
	// Serving tells whether the service kept answering, and by whom.
	Serving string
	// Requests and Failed count the load during the scenario; of the
	// failures, FailedNext happened during the final normal restart.
	Requests, Failed, FailedNext int
	Classes                      map[string]int
	// Orphans are processes still alive besides the serving one once
	// the scenario settled, plus those SIGTERM did not end.
	Orphans []proc.Proc
	// Zombies are exited processes a subject process did not reap.
	Zombies []proc.Proc
	// NextRestart tells whether a normal restart afterwards worked.
	NextRestart string
	// Detail says what happened in the scenario's own terms.
	Detail string
	Took   time.Duration
}

// Fault is one failure scenario.
type Fault struct {
	Name string
	run  func(fc *faultCtx) error
}

// Faults lists the scenarios in report order.
var Faults = []Fault{
	{"child crashes during init", (*faultCtx).crash},
	{"child never ready", (*faultCtx).hang},
	{"invalid config at restart", (*faultCtx).badConfig},
	{"signal storm (10 in 100 ms)", (*faultCtx).storm},
	{"restart while draining a long request", (*faultCtx).chained},
	{"hijacked stream across a restart", (*faultCtx).hijack},
}

type faultCtx struct {
	ctx context.Context
	in  *subject.Instance
	rec *load.Recorder
	tr  *tracker
	o   FaultOptions
	old int
	res *FaultResult
	// failedBefore is the failure count before the next restart began.
	failedBefore int
}

// RunFault launches a fresh instance, runs scenario f on it under load,
// and stops it.
func RunFault(ctx context.Context, launch func() (*subject.Instance, error), f Fault, o FaultOptions) FaultResult {
	start := time.Now()
	res := FaultResult{Scenario: f.Name}
	in, err := launch()
	if err != nil {
		res.Detail = "could not start: " + err.Error()
		return res
	}
	res.Subject = in.Name
	fc := &faultCtx{ctx: ctx, in: in, o: o, res: &res, rec: load.NewRecorder(100 * time.Millisecond)}
	fc.old, _ = in.PIDFromFile()
	fc.tr = startTracker(in.Tree)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Drive(lctx, in.Addr, o.Clients, fc.rec) })
	sleepCtx(ctx, 300*time.Millisecond)

	if err := f.run(fc); err != nil {
		res.Detail = joinNote(res.Detail, "error: "+err.Error())
	}
	fc.settle(15 * time.Second)
	stopLoad()
	wg.Wait()
	fc.tr.close()
	s := fc.rec.Summary()
	res.Requests, res.Failed, res.Classes = s.TotalRequests(), s.TotalFailed(), s.ByClass()
	if fc.res.NextRestart != "" {
		res.FailedNext = res.Failed - fc.failedBefore
	}
	_, res.Zombies = fc.tr.stats()
	st := in.Stop(40 * time.Second)
	res.Orphans = append(res.Orphans, st.Leftover...)
	res.Took = time.Since(start)
	return res
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// settle waits until the tree holds only the process the PID file names,
// then records any other live process as an orphan.
func (fc *faultCtx) settle(bound time.Duration) {
	deadline := time.Now().Add(bound)
	var extra []proc.Proc
	for n := 0; n < 100_000; n++ {
		pid, _ := fc.in.PIDFromFile()
		live, err := fc.in.Tree.Live()
		if err == nil {
			extra = slices.DeleteFunc(live, func(p proc.Proc) bool { return p.PID == pid })
			if len(extra) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by deadline
	}
	fc.res.Orphans = append(fc.res.Orphans, extra...)
}

// serving asks the subject who answers now.
func (fc *faultCtx) serving(expect int) string {
	code, body, err := load.Get(fc.in.Addr, "/", 5*time.Second)
	if err != nil {
		return "no: " + loadgen.Classify(err)
	}
	pid := loadgen.ParsePID(body)
	switch {
	case code != 200:
		return fmt.Sprintf("no: status %d", code)
	case pid == expect:
		return fmt.Sprintf("yes (pid %d)", pid)
	}
	return fmt.Sprintf("answered by pid %d, expected %d", pid, expect)
}

// childCameAndWent waits until a process started after t0 has appeared
// and every such process has exited, at most bound.
func (fc *faultCtx) childCameAndWent(t0 time.Time, bound time.Duration) (spawned int, took time.Duration, ok bool) {
	deadline := t0.Add(bound)
	for n := 0; n < 1_000_000; n++ {
		pids, exited := fc.tr.since(t0)
		if len(pids) > 0 && exited == len(pids) {
			return len(pids), time.Since(t0), true
		}
		if time.Now().After(deadline) || fc.ctx.Err() != nil {
			return len(pids), time.Since(t0), false
		}
		time.Sleep(trackEvery)
	}
	return 0, time.Since(t0), false
}

// faultCameAndWent waits for a fault stand-in to announce itself and
// then for it to exit, within bound of t0 in all.
func (fc *faultCtx) faultCameAndWent(t0 time.Time, bound time.Duration) (spawned int, took time.Duration, ok bool) {
	deadline := t0.Add(bound)
	var pids []int
	for n := 0; n < 1_000_000 && fc.ctx.Err() == nil; n++ {
		if pids = fc.in.FaultPIDs(); len(pids) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(trackEvery) // polling interval, bounded by deadline
	}
	for _, pid := range pids {
		if exited, err := proc.WaitExit(pid, time.Until(deadline)); err != nil || !exited {
			return len(pids), time.Since(t0), false
		}
	}
	return len(pids), time.Since(t0), len(pids) > 0
}

// nextRestart signals the serving process and reports whether a new one
// took over.
func (fc *faultCtx) nextRestart() {
	fc.failedBefore = fc.rec.Failed()
	cur, err := fc.in.PIDFromFile()
	if err != nil {
		fc.res.NextRestart = "no serving process: " + err.Error()
		return
	}
	t0 := time.Now()
	if err := fc.in.Signal(cur, syscall.SIGHUP); err != nil {
		fc.res.NextRestart = "no: " + err.Error()
		return
	}
	if pid, err := fc.in.WaitServing(cur, 15*time.Second); err != nil {
		fc.res.NextRestart = fmt.Sprintf("no: %v (log: %s)", err, fc.in.LogTail(2))
	} else {
		fc.res.NextRestart = fmt.Sprintf("yes (pid %d serving after %s)", pid, ms(time.Since(t0)))
	}
}

// brokenRelease installs a broken state, restarts, waits for the failed
// child to be gone, checks who serves, repairs and restarts again.
// With marked set, the child is a fault stand-in that announces its pid.
func (fc *faultCtx) brokenRelease(install, repair func() error, bound time.Duration, what string, marked bool) error {
	if err := install(); err != nil {
		return err
	}
	t0 := time.Now()
	if err := fc.in.Signal(fc.old, syscall.SIGHUP); err != nil {
		return err
	}
	var n int
	var took time.Duration
	var ok bool
	if marked {
		n, took, ok = fc.faultCameAndWent(t0, bound)
	} else {
		n, took, ok = fc.childCameAndWent(t0, bound)
	}
	switch {
	case n == 0:
		fc.res.Detail = "no child process seen"
	case ok:
		fc.res.Detail = fmt.Sprintf("%s child gone %s after the signal", what, ms(took))
	default:
		fc.res.Detail = fmt.Sprintf("%s child still alive %s after the signal", what, ms(took))
	}
	fc.failedBefore = fc.rec.Failed()
	sleepCtx(fc.ctx, 500*time.Millisecond)
	fc.res.Serving = fc.serving(fc.old)
	if err := repair(); err != nil {
		return err
	}
	fc.nextRestart()
	return nil
}

func (fc *faultCtx) crash() error {
	return fc.brokenRelease(func() error { return fc.in.InstallBinary(fc.o.CrashBin) }, fc.in.RestoreBinary, 15*time.Second, "crashed", true)
}

func (fc *faultCtx) hang() error {
	return fc.brokenRelease(func() error { return fc.in.InstallBinary(fc.o.HangBin) }, fc.in.RestoreBinary, fc.o.HangWait, "hung", true)
}

func (fc *faultCtx) badConfig() error {
	if !fc.in.ConfigFlag {
		fc.res.Detail = "not measured: the subject has no -config flag"
		fc.res.Serving = fc.serving(fc.old)
		return nil
	}
	return fc.brokenRelease(func() error { return fc.in.WriteConfig(fc.in.InvalidConfig) }, fc.in.RestoreConfig, 15*time.Second, "refused", false)
}

func (fc *faultCtx) storm() error {
	t0 := time.Now()
	delivered := 0
	for range 10 {
		// Like "kill -HUP $(cat pidfile)" from an impatient operator.
		if pid, err := fc.in.PIDFromFile(); err == nil && fc.in.Signal(pid, syscall.SIGHUP) == nil {
			delivered++
		}
		time.Sleep(10 * time.Millisecond) // the storm's spacing
	}
	// Let the storm play out: one process named by the PID file, alone
	// in the tree and answering.
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 100_000 && time.Now().Before(deadline); n++ {
		cur, err := fc.in.PIDFromFile()
		live, lerr := fc.in.Tree.Live()
		if err == nil && lerr == nil && len(live) == 1 && live[0].PID == cur {
			pid = cur
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by deadline
	}
	spawned := fc.tr.stableSince(t0)
	maxLive, _ := fc.tr.stats()
	answered := fc.rec.PIDsSince(t0)
	fc.res.Detail = fmt.Sprintf("%d/10 signals delivered; %d processes started; at most %d alive at once; new pids that answered: %d",
		delivered, len(spawned), maxLive, len(answered))
	if pid == 0 {
		fc.res.Detail += "; did not settle to one process within 30 s"
	}
	fc.res.Serving = fc.serving(pid)
	fc.nextRestart()
	return nil
}

func (fc *faultCtx) chained() error {
	type outcome struct {
		code, pid int
		err       error
		took      time.Duration
	}
	slow := make(chan outcome, 1)
	go func() {
		t := time.Now()
		code, body, err := load.Get(fc.in.Addr, "/?sleep=4s", 20*time.Second)
		slow <- outcome{code, loadgen.ParsePID(body), err, time.Since(t)}
	}()
	sleepCtx(fc.ctx, 200*time.Millisecond) // let the long request reach the old process
	drain(fc.rec.NewPIDs())
	t0 := time.Now()
	if err := fc.in.Signal(fc.old, syscall.SIGHUP); err != nil {
		return err
	}
	b, ok := waitNewPID(fc.ctx, fc.rec, fc.old, t0, 15*time.Second)
	if !ok {
		fc.res.Detail = "first restart did not hand over"
		return nil
	}
	t1 := time.Now()
	oldAlive := proc.Alive(fc.old)
	if err := fc.in.Signal(b.PID, syscall.SIGHUP); err != nil {
		return err
	}
	second := "refused: no new pid within 10 s"
	for {
		c, ok := waitNewPID(fc.ctx, fc.rec, b.PID, t1, 10*time.Second)
		if !ok {
			break
		}
		if c.PID != fc.old {
			second = fmt.Sprintf("accepted (pid %d answered %s after the second signal)", c.PID, ms(c.At.Sub(t1)))
			break
		}
	}
	var long string
	select {
	case r := <-slow:
		switch {
		case r.err != nil:
			long = "failed: " + loadgen.Classify(r.err)
		case r.code != 200:
			long = fmt.Sprintf("failed: status %d", r.code)
		default:
			long = fmt.Sprintf("200 from pid %d after %s", r.pid, ms(r.took))
		}
	case <-time.After(25 * time.Second):
		long = "no answer within 25 s"
	}
	fc.res.Detail = fmt.Sprintf("old process still draining at the second signal: %v; second restart %s; long request %s", oldAlive, second, long)
	if ok, _ := proc.WaitExit(fc.old, 40*time.Second); !ok {
		fc.res.Detail += "; old process still alive 40 s later"
	}
	cur, _ := fc.in.PIDFromFile()
	fc.res.Serving = fc.serving(cur)
	fc.nextRestart()
	return nil
}

func (fc *faultCtx) hijack() error {
	s, err := load.OpenStream(fc.in.Addr, streamProtocol, 60*time.Second)
	if err != nil {
		fc.res.Detail = "not measured: " + err.Error()
		fc.res.Serving = fc.serving(fc.old)
		fc.nextRestart()
		return nil
	}
	sleepCtx(fc.ctx, 200*time.Millisecond)
	drain(fc.rec.NewPIDs())
	t0 := time.Now()
	if err := fc.in.Signal(fc.old, syscall.SIGHUP); err != nil {
		_ = s.Close()
		return err
	}
	b, ok := waitNewPID(fc.ctx, fc.rec, fc.old, t0, 15*time.Second)
	var r load.StreamResult
	select {
	case <-s.Done():
		r = s.Close()
	case <-time.After(40 * time.Second):
		r = s.Close()
		r.End = "still open 40 s after the signal (closed by the bench)"
	}
	exited, _ := proc.WaitExit(fc.old, 40*time.Second)
	oldExit := "old process still alive 40 s after the signal"
	if exited {
		oldExit = fmt.Sprintf("old process exited %s after the signal", ms(time.Since(t0)))
	}
	fc.res.Detail = fmt.Sprintf("stream from pid %d (%d ticks) ended %q %s after the signal; %s", r.PID, r.Lines, r.End, ms(r.EndedAt.Sub(t0)), oldExit)
	if !ok {
		fc.res.Detail += "; no new pid answered"
	}
	fc.res.Serving = fc.serving(b.PID)
	fc.nextRestart()
	return nil
}

// ms rounds a duration for the report.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
