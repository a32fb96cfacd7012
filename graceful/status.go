package graceful

// ServerStatus tells whether a [Server] is serving.
type ServerStatus int

const (
	// ServerStatusStopped: the server has not started serving yet, or it
	// has finished shutting down.
	ServerStatusStopped ServerStatus = iota
	// ServerStatusRunning: the server accepts connections, or it is
	// draining them during a graceful shutdown.
	ServerStatusRunning
)

// String returns "stopped" or "running".
func (s ServerStatus) String() string {
	if s == ServerStatusRunning {
		return "running"
	}
	return "stopped"
}
