package graceful

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A link joins a process and the one it started (a successor, or a
// worker) for as long as both live: a Unix socket pair of the
// SOCK_SEQPACKET type, one JSON message per packet, sockets passed along
// with a message where needed.
//
// Messages from the child:
//   - ready: it serves (a worker passes its sockets with it, so that its
//     supervisor holds them for the next worker);
//   - released: it handed over to a successor of its own, so the parent's
//     probation (see ProcessConfig.Probation) is over;
//   - restart: a worker's Process.Restart, which its supervisor performs
//     and answers with restarted.
//
// Messages from the parent:
//   - drain: (to a worker) stop accepting and drain; keep the sockets for
//     the probation;
//   - resume: (to a worker in probation) the successor died: serve again;
//   - release: (to a worker in probation) the probation is over;
//   - stop: (to the serving worker) the service stops: shut down as the
//     last generation (a SIGTERM a worker gets from elsewhere is not
//     final: its supervisor keeps the sockets and starts another);
//   - restarted: the outcome of a worker's restart request;
//   - totals: the parent's final counters, sent as it exits, so that the
//     child's go on from them.
type linkMsg struct {
	Type string `json:"type"`
	PID  int    `json:"pid,omitempty"`
	// Sockets name the descriptors passed with a ready message, in order.
	Sockets []handoverSocket  `json:"sockets,omitempty"`
	Error   string            `json:"error,omitempty"`
	Totals  map[string]uint64 `json:"totals,omitempty"`
	// With totals: the duration of the last restart, and (to a worker)
	// how many workers are alive.
	RestartNanos int64 `json:"restart_ns,omitempty"`
	Alive        int   `json:"alive,omitempty"`
}

// Link message types.
const (
	msgReady     = "ready"
	msgReleased  = "released"
	msgRestart   = "restart"
	msgDrain     = "drain"
	msgResume    = "resume"
	msgRelease   = "release"
	msgRestarted = "restarted"
	msgTotals    = "totals"
	msgStop      = "stop"
)

// maxLinkMsg bounds a link message, and maxLinkFds the descriptors passed
// with one.
const (
	maxLinkMsg = 64 << 10
	maxLinkFds = 250
)

// errLinkClosed: the other end of a link is gone.
var errLinkClosed = errors.New("the link to the other process is closed")

func encodeLinkMsg(m linkMsg) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > maxLinkMsg {
		return nil, fmt.Errorf("link message of %d bytes is too large", len(b))
	}
	return b, nil
}

// decodeLinkMsg reads a message from the other process, which is not
// trusted: a message that does not parse, or names more sockets than it
// carries, is an error.
func decodeLinkMsg(b []byte, fds int) (linkMsg, error) {
	var m linkMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return linkMsg{}, fmt.Errorf("bad link message: %w", err)
	}
	switch m.Type {
	case msgReady, msgReleased, msgRestart, msgDrain, msgResume, msgRelease, msgRestarted, msgTotals, msgStop:
	default:
		return linkMsg{}, fmt.Errorf("unknown link message %q", m.Type)
	}
	if len(m.Sockets) != fds {
		return linkMsg{}, fmt.Errorf("link message %q names %d sockets and carries %d", m.Type, len(m.Sockets), fds)
	}
	return m, nil
}
