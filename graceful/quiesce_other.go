//go:build !linux

package graceful

import (
	"errors"
	"time"
)

// On systems other than Linux a final shutdown closes the listeners as
// before: connections still queued on them when they close may be reset
// (see quiesce_linux.go).
const quiesceSupported = false

var errNoQuiesce = errors.New("refusing new connections while serving queued ones needs Linux")

func refuseNew(int) error   { return errNoQuiesce }
func listenAgain(int) bool  { return true } // nothing refused
func socketInQueue(int) int { return 0 }

type tcpAddr struct{}

func acceptQueue(int) (int, tcpAddr, bool, error) { return 0, tcpAddr{}, false, errNoQuiesce }
func handshakes([]tcpAddr) (int, error)           { return 0, errNoQuiesce }

// fdOf returns the descriptor of a listener or connection, for the
// duration of fn.
func fdOf(v any, fn func(fd int)) bool { return false }

func roundTrip(any) (rtt, rttvar, sinceSent time.Duration, ok bool) { return 0, 0, 0, false }
