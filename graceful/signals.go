package graceful

import "os"

// RestartSignalNames returns the names of the signals that can trigger a
// restart, for configuration validation and documentation.
func RestartSignalNames() []string {
	return []string{"SIGHUP", "SIGUSR1", "SIGUSR2"}
}

// restartSignalCandidates returns the signals of [RestartSignalNames].
func restartSignalCandidates() []os.Signal {
	var sigs []os.Signal
	for _, name := range RestartSignalNames() {
		if sig, err := SignalByName(name); err == nil {
			sigs = append(sigs, sig)
		}
	}
	return sigs
}
