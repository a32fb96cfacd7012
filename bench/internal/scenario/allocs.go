package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// allocSubjects are the subtests of BenchmarkServer, in the order of the
// first round.
var allocSubjects = []string{"nethttp", "nethttp+timeouts", "graceful"}

// AllocSample is one benchmark line of the allocs package.
type AllocSample struct {
	Name                           string
	NsPerOp, BytesPerOp, AllocsPer float64
}

var benchLine = regexp.MustCompile(`^BenchmarkServer/(\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op\s+([0-9.]+) B/op\s+([0-9.]+) allocs/op`)

// Allocs runs the allocs benchmark in benchDir for runs rounds. The test
// binary is built once; each round runs every subject in its own process,
// in an order that rotates and reverses from round to round, so that no
// subject always runs first or last on a machine whose speed drifts.
func Allocs(ctx context.Context, benchDir string, runs int) ([]AllocSample, error) {
	tmp, err := os.MkdirTemp("", "gracekit-allocs-")
	if err != nil {
		return nil, fmt.Errorf("allocs benchmark: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "allocs.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./allocs")
	build.Dir = benchDir
	if raw, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("allocs benchmark: build: %w: %s", err, raw)
	}
	var out []AllocSample
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		for _, name := range RoundOrder(allocSubjects, i) {
			pattern := "^BenchmarkServer$/^" + regexp.QuoteMeta(name) + "$"
			cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchmem", "-test.benchtime", "2s", "-test.count", "1")
			cmd.Dir = filepath.Join(benchDir, "allocs")
			raw, err := cmd.CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("allocs benchmark %s: %w: %s", name, err, raw)
			}
			for _, line := range regexp.MustCompile(`\r?\n`).Split(string(raw), -1) {
				m := benchLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				s := AllocSample{Name: m[1]}
				s.NsPerOp, _ = strconv.ParseFloat(m[2], 64)
				s.BytesPerOp, _ = strconv.ParseFloat(m[3], 64)
				s.AllocsPer, _ = strconv.ParseFloat(m[4], 64)
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("allocs benchmark: no result lines")
	}
	return out, nil
}

// RoundOrder returns the subjects in the order of round i: rotated by i,
// and reversed in odd rounds.
func RoundOrder[T any](subjects []T, i int) []T {
	n := len(subjects)
	order := make([]T, n)
	for j := range n {
		order[j] = subjects[(i+j)%n]
	}
	if i%2 == 1 {
		for a, b := 0, n-1; a < b; a, b = a+1, b-1 {
			order[a], order[b] = order[b], order[a]
		}
	}
	return order
}
