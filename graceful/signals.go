package graceful

// RestartSignalNames returns the names of the signals that can trigger a
// restart, for configuration validation and documentation.
func RestartSignalNames() []string {
	return []string{"SIGHUP", "SIGUSR1", "SIGUSR2"}
}
