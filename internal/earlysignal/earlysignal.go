//go:build unix

package earlysignal

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// HandoverEnv is graceful.HandoverEnv, which cannot be imported here.
const HandoverEnv = "GRACEFUL_HANDOVER"

var (
	restart = make(chan os.Signal, 8)
	stop    = make(chan os.Signal, 8)
)

func init() {
	v, ok := os.LookupEnv(HandoverEnv)
	if !ok {
		return
	}
	signal.Notify(restart, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	if strings.Contains(v, `"role":"supervisor"`) {
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	}
}

// TakeRestart stops the early catching of restart signals and returns
// what it caught.
func TakeRestart() []os.Signal { return take(restart) }

// TakeStop does the same for the stop signals.
func TakeStop() []os.Signal { return take(stop) }

func take(ch chan os.Signal) []os.Signal {
	signal.Stop(ch)
	var got []os.Signal
	for {
		select {
		case sig := <-ch:
			got = append(got, sig)
		default:
			return got
		}
	}
}
