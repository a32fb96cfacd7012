//go:build linux && race

package e2e

// raceEnabled builds examples/reload with the race detector too when the
// tests run with -race, so that the servers the tests drive are checked.
const raceEnabled = true

// restartsPerRun is how many restarts each client run of
// TestCurlAndH2loadAcrossRestarts and TestNginxKeepAliveUpstreamAcrossRestarts
// spans. Under the race detector every process is several times slower
// (these runs took 421 s of go test's default 10-minute limit with 20), so
// they span 10; without it (CI runs the package both ways) they span 20.
const restartsPerRun = 10
