//go:build linux && !race

package e2e

const raceEnabled = false

// restartsPerRun: see race_test.go.
const restartsPerRun = 20
