package report

import (
	"time"

	"github.com/gracekit/gracekit/bench/internal/scenario"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// Results is everything one full run measured.
type Results struct {
	Machine Machine
	// Command regenerates the results.
	Command string
	Took    time.Duration
	// Subjects describes each subject in a line; NotMeasured says which
	// were left out and why.
	Subjects, NotMeasured []string
	// LoadDesc describes the clients during restarts.
	LoadDesc string
	// Block is the number of restarts per block.
	Block int

	Lineages []*scenario.Lineage
	// OldExits counts the exit statuses of the generations the reaper
	// collected, by subject.
	OldExits map[string]map[string]int
	Stops    map[string]subject.StopReport

	Cold []ColdStat

	WrkDesc    string
	Throughput []Round
	// Ratios lists the pairs of subjects whose throughput ratio (first
	// over second) the report gives.
	Ratios [][2]string
	Allocs []scenario.AllocSample

	Faults []scenario.FaultResult

	// H2Desc describes the HTTP/2 lane, H2 holds its runs.
	H2Desc string
	H2     []scenario.H2Run
	// NginxDesc describes the nginx-in-front lane, Nginx holds its runs.
	NginxDesc string
	Nginx     []scenario.NginxRun

	// CallgrindDesc describes the callgrind lane; Callgrind holds its
	// runs, CallgrindBase names the subject the ratios are against, and
	// CallgrindFuncs compares pairs of subjects function by function.
	CallgrindDesc   string
	Callgrind       []scenario.CallgrindRun
	CallgrindBase   string
	CallgrindFuncs  []FuncComparison
	CallgrindErrors []string

	// HandoverDesc describes the handover lane: Handover holds its
	// rounds with probes only, OldExit those with requests in flight.
	HandoverDesc      string
	Handover, OldExit []*scenario.RestartSeries

	// ScaleDesc describes the lane with many sockets per subject.
	ScaleDesc string
	Scale     []ScaleRow

	// IdleDesc describes the lane with idle keep-alive connections.
	IdleDesc string
	Idle     []scenario.IdleRun

	// RSSDesc describes the memory lane.
	RSSDesc string
	RSS     []*scenario.RestartSeries

	// H3Desc describes the HTTP/3 lane, H3Subjects its subjects, H3
	// holds its runs.
	H3Desc     string
	H3Subjects []string
	H3         []scenario.H3Run

	Lanes []*scenario.Lane
	Plot  string
	Notes []string
}

// FuncComparison is the own instructions per request of functions in two
// subjects, A and B.
type FuncComparison struct {
	A, B  string
	Funcs []scenario.FuncDelta
}

// ScaleRow is the scale lane's rounds for one number of servers.
type ScaleRow struct {
	Servers int
	Series  []*scenario.RestartSeries
}

// ColdStat holds the cold starts of one subject, on an idle machine and
// while the restart load runs against another server.
type ColdStat struct {
	Subject      string
	Idle, Loaded []time.Duration
}

// Round is one alternating throughput round.
type Round struct {
	Order  []string
	RPS    map[string]float64
	Errors map[string]int
}
