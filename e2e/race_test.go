//go:build linux && race

package e2e

// raceEnabled builds examples/reload with the race detector too when the
// tests run with -race, so that the servers the tests drive are checked.
const raceEnabled = true
