//go:build !linux

package graceful

// selfExecutable has no stand-in outside Linux: a removed binary cannot
// be started again.
func selfExecutable() string { return "" }
