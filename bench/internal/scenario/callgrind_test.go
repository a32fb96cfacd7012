package scenario

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gracekit/gracekit/bench/internal/extclient"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// TestCallgrindCountsInstructionsPerRequest is the callgrind lane in
// miniature, so that it does not rot: the nethttp subject under callgrind,
// 20 warm-up requests, 50 measured, the counts read from the dumps and
// split by function. It skips when valgrind is missing, unless
// GRACEKIT_REQUIRE_TOOLS=1.
func TestCallgrindCountsInstructionsPerRequest(t *testing.T) {
	if err := extclient.Need("valgrind", "callgrind_control"); err != nil {
		if os.Getenv("GRACEKIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("valgrind is required (GRACEKIT_REQUIRE_TOOLS=1) but missing: %v", err)
		}
		t.Skipf("skipped: %v; set GRACEKIT_REQUIRE_TOOLS=1 to make this a failure", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nethttp")
	build := exec.Command("go", "build", "-o", bin, "./subjects/nethttp")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	spec := subject.Spec{Name: "nethttp", Bin: bin, ConfigFlag: true, ValidConfig: "{}\n"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := Callgrind(ctx, spec, dir, CallgrindOptions{Warm: 20, Measure: 50, StartTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// A keep-alive GET through net/http costs tens of thousands of
	// instructions: far fewer means the dump missed the requests, far
	// more that it counted the start.
	if run.PerRequest < 5_000 || run.PerRequest > 2_000_000 {
		t.Fatalf("%.0f instructions per request (%d over %d): not a request's worth", run.PerRequest, run.Instructions, run.Measure)
	}
	top, err := TopFuncs(run, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) == 0 || top[0].A <= 0 {
		t.Fatalf("no function in the dump: %v", top)
	}
	all, err := extclient.SelfCosts(run.Dump)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, f := range all {
		sum += f.Ir
	}
	if sum != run.Instructions {
		t.Errorf("the functions' own costs add up to %d, the dump's total is %d", sum, run.Instructions)
	}
	d, err := CompareFuncs(run, run, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d {
		if f.A != f.B {
			t.Errorf("a dump compared with itself differs in %s: %v", f.Func, f)
		}
	}
	t.Logf("%.0f instructions per request; top: %v", run.PerRequest, top)
}
