//go:build !linux

package graceful

// refusingNew: elsewhere a final drain closes its listeners, which then
// refuse new connections, once Stats().Draining is true.
func refusingNew(*Server) bool { return true }
