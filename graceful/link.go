package graceful

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A link joins a process and a generation it started (a successor, or a
// worker) for as long as both live: a Unix socket pair of the
// SOCK_SEQPACKET type, one JSON message per packet (or a large one in
// parts, see maxLinkPacket), descriptors passed along with a message
// where needed.
//
// From the process that starts the generation:
//   - state: the first message, sent as the generation starts: the
//     service's secret, the files older generations pass on (see
//     Process.PassOn), the lineage's counters;
//   - ping: are you there? (answered with pong; see livenessTimeout);
//   - totals: the lineage's counters, brought up to date;
//   - to a worker, from its supervisor: drain (stop accepting and drain,
//     keep the sockets for the probation), resume (the successor died
//     within the probation: serve again), release (the probation is
//     over), stop (the service stops: shut down as the last generation),
//     restarted (the outcome of the worker's restart request);
//   - to a re-exec successor, from the generation that handed over to
//     it: restart and stop (signals passed on, see lifecycle.passOn),
//     and main (the probation is over: systemd follows the successor as
//     its main process now, see lifecycle.passMain).
//
// From the generation:
//   - ready: it serves. It names the sockets it took; a worker passes
//     them, and the files it passes on, so that its supervisor holds them
//     for the next worker;
//   - resumed: (a worker, after a rollback) it serves again; it passes
//     its sockets, those it bound again included, as with ready;
//   - failed: why Run failed before the generation was ready;
//   - released: (a re-exec generation) it handed over to a successor of
//     its own, or was asked to stop: its parent's probation is over;
//   - restart: (a worker) Process.Restart was called;
//   - totals: (a worker, as it exits) its own counters;
//   - pong: the answer to ping.
type linkMsg struct {
	Type string `json:"type"`
	PID  int    `json:"pid,omitempty"`
	// Sockets name the sockets of a ready or resumed message; a
	// worker's carry descriptors, in order, before those of Files.
	Sockets []handoverSocket `json:"sockets,omitempty"`
	// Files are the files passed on (see Process.PassOn), with a
	// descriptor each.
	Files []passedFile `json:"files,omitempty"`
	Error string       `json:"error,omitempty"`
	// Secret is the service's secret, in the state message.
	Secret []byte            `json:"secret,omitempty"`
	Totals map[string]uint64 `json:"totals,omitempty"`
	// With totals: the duration of the last restart, and (to a worker)
	// how many workers are alive.
	RestartNanos int64  `json:"restart_ns,omitempty"`
	Alive        int    `json:"alive,omitempty"`
	Seq          uint64 `json:"seq,omitempty"`
	// Settings, in a worker's ready message, are the settings its
	// supervisor runs by, as the worker's configuration says them (see
	// Process.settings): a supervisor whose own differ takes them by
	// executing itself again.
	Settings string `json:"settings,omitempty"`
	// StopLimit, in a worker's ready message, is how long it may take to
	// exit once released or told to stop (its shutdown delay and
	// Process.boundedDrainLimit; 0: no bound): its supervisor kills it
	// after that, and a grace.
	StopLimit time.Duration `json:"stop_limit,omitempty"`
	// PIDFile, in a re-exec successor's ready message, is the PID file it
	// puts in place once it has sent the message (see becomeReady).
	PIDFile string `json:"pid_file,omitempty"`

	// fds are the descriptors a resumed message carried, which its
	// receiver owns (not encoded: they travel beside the JSON).
	fds []int
}

// passedFile describes a file passed on from one generation to the next.
type passedFile struct {
	Name       string `json:"name"`
	Generation int    `json:"generation"`
	PID        int    `json:"pid"`
}

// Link message types.
const (
	msgState     = "state"
	msgPing      = "ping"
	msgPong      = "pong"
	msgTotals    = "totals"
	msgDrain     = "drain"
	msgResume    = "resume"
	msgRelease   = "release"
	msgStop      = "stop"
	msgRestarted = "restarted"
	msgReady     = "ready"
	msgResumed   = "resumed"
	msgFailed    = "failed"
	msgReleased  = "released"
	msgRestart   = "restart"
	msgMain      = "main"
)

// A message goes in one packet when it fits: at most maxLinkPacket bytes
// of JSON and maxLinkFds descriptors (the kernel passes at most 253 with
// one sendmsg). A larger one (a ready message with thousands of sockets)
// goes as a run of parts: packets that begin with partMore, the last with
// partLast, each with a piece of the message's JSON after that byte and
// some of its descriptors. maxLinkMsg, maxLinkMsgFds and maxLinkParts
// bound a message put together from parts.
const (
	maxLinkPacket = 64 << 10
	maxLinkFds    = 250
	maxLinkMsg    = 4 << 20
	maxLinkMsgFds = 16 << 10
	maxLinkParts  = maxLinkMsg/(maxLinkPacket-1) + maxLinkMsgFds/maxLinkFds + 2
	partMore      = 'P'
	partLast      = 'L'
)

// errLinkClosed: the other end of a link is gone.
var errLinkClosed = errors.New("the link to the other process is closed")

func encodeLinkMsg(m linkMsg) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > maxLinkMsg {
		return nil, fmt.Errorf("link message %q of %d bytes is larger than the %d a link message may have", m.Type, len(b), maxLinkMsg)
	}
	return b, nil
}

// decodeLinkMsg reads a message from the other process, which is not
// trusted: a message that does not parse, or whose sockets and files do
// not match the descriptors it carries, is an error.
func decodeLinkMsg(b []byte, fds int) (linkMsg, error) {
	var m linkMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return linkMsg{}, fmt.Errorf("bad link message: %w", err)
	}
	switch m.Type {
	case msgState, msgPing, msgPong, msgTotals, msgDrain, msgResume, msgRelease, msgStop,
		msgRestarted, msgReady, msgResumed, msgFailed, msgReleased, msgRestart, msgMain:
	default:
		return linkMsg{}, fmt.Errorf("unknown link message %q", m.Type)
	}
	want := len(m.Files)
	for _, s := range m.Sockets {
		if s.Fd >= 0 {
			want++
		}
	}
	if want != fds {
		return linkMsg{}, fmt.Errorf("link message %q names %d descriptors and carries %d", m.Type, want, fds)
	}
	if m.Secret != nil && len(m.Secret) != secretSize {
		return linkMsg{}, fmt.Errorf("link message %q carries a secret of %d bytes, not %d", m.Type, len(m.Secret), secretSize)
	}
	return m, nil
}
