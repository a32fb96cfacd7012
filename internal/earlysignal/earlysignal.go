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
	// caught is closed once the signals are caught.
	caught = make(chan struct{})
)

func init() {
	v, ok := os.LookupEnv(HandoverEnv)
	if !ok {
		close(caught)
		return
	}
	if strings.Contains(v, `"role":"supervisor"`) {
		// A supervisor's next image: its workers depend on it, so the
		// stop signals are caught before any other package initializes.
		catch(true)
		return
	}
	// A new generation, on its way to ready while the previous one
	// serves: the first signal.Notify of a process waits for the runtime
	// to start a thread for its signal mask (about half a millisecond),
	// which the start need not wait for. Until this goroutine has run,
	// as before this package's init, a restart signal ends the process;
	// no one sends it one before the process is ready (the PID file and
	// systemd's MAINPID name it then), and the window ends well before.
	go catch(false)
}

// catch catches the restart signals, and a supervisor's stop signals.
func catch(supervisor bool) {
	defer close(caught)
	signal.Notify(restart, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	if supervisor {
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	}
}

// Caught returns a channel that is closed once the early catching has
// begun (at once in a process that is not a new generation).
func Caught() <-chan struct{} { return caught }

// TakeRestart stops the early catching of restart signals and returns
// what it caught.
func TakeRestart() []os.Signal { return take(restart) }

// TakeStop does the same for the stop signals.
func TakeStop() []os.Signal { return take(stop) }

func take(ch chan os.Signal) []os.Signal {
	<-caught
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
