package scenario

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// AllocSample is one benchmark line of the allocs package.
type AllocSample struct {
	Name                           string
	NsPerOp, BytesPerOp, AllocsPer float64
}

var benchLine = regexp.MustCompile(`^BenchmarkServer/(\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op\s+([0-9.]+) B/op\s+([0-9.]+) allocs/op`)

// Allocs runs the allocs benchmark runs times in benchDir; each run
// measures net/http then graceful.Server, so the samples alternate.
func Allocs(ctx context.Context, benchDir string, runs int) ([]AllocSample, error) {
	var out []AllocSample
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkServer", "-benchmem", "-benchtime", "2s", "-count", "1", "./allocs")
		cmd.Dir = benchDir
		raw, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("allocs benchmark: %w: %s", err, raw)
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
	if len(out) == 0 {
		return nil, fmt.Errorf("allocs benchmark: no result lines")
	}
	return out, nil
}
